"""tasks_flowrun: create and wait for child flow runs from Prefect 1.x parent flows.

A drop-in for `prefect.tasks.prefect.create_flow_run` / `wait_for_flow_run`, without their
defects; works against any Prefect 1 backend (Prefect Server, or the embedded backend in
`tasks_flowrun.server`, which this package never imports on its own).
"""
from .tasks.create import CreateFlowRun, create_flow_run
from .tasks.wait import WaitForFlowRun, wait_for_flow_run

__version__ = "0.1.0"

__all__ = ["CreateFlowRun", "WaitForFlowRun", "create_flow_run", "wait_for_flow_run"]
