"""The Prefect `Task`s users import: create child flow runs, wait for them, read their results."""
from .create import CreateFlowRun, create_flow_run
from .errors import CANCEL, TIMEOUT, WaitTimeoutError
from .results import GetTaskRunResult, get_task_run_result
from .wait import WaitForFlowRun, wait_for_flow_run

__all__ = [
    "CANCEL",
    "CreateFlowRun",
    "GetTaskRunResult",
    "TIMEOUT",
    "WaitForFlowRun",
    "WaitTimeoutError",
    "create_flow_run",
    "get_task_run_result",
    "wait_for_flow_run",
]
