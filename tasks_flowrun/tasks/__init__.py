"""The Prefect `Task`s users import: create child flow runs and wait for them."""
from .create import CreateFlowRun, create_flow_run
from .errors import CANCEL, TIMEOUT, WaitTimeoutError
from .wait import WaitForFlowRun, wait_for_flow_run

__all__ = [
    "CANCEL",
    "CreateFlowRun",
    "TIMEOUT",
    "WaitForFlowRun",
    "WaitTimeoutError",
    "create_flow_run",
    "wait_for_flow_run",
]
