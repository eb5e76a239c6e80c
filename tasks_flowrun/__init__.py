"""tasks_flowrun: create, wait for and read child flow runs from Prefect 1.x parent flows.

A drop-in for `prefect.tasks.prefect.create_flow_run` / `wait_for_flow_run` /
`get_task_run_result`, without their defects; works against any Prefect 1 backend
(Prefect Server, or the embedded backend in `tasks_flowrun.server`, which the tasks never
import).

The public names are imported lazily, so that `tasks_flowrun.server` and the CLI do not pay
for (or depend on) the task modules.
"""
from importlib import import_module
from typing import Any

__version__ = "0.2.0"  # the one place the version is written (setup.cfg reads it)

__all__ = [
    "CreateFlowRun",
    "GetTaskRunResult",
    "WaitForFlowRun",
    "create_flow_run",
    "get_task_run_result",
    "restart_flow_run",
    "wait_for_flow_run",
]

_HOMES = {
    "CreateFlowRun": "tasks_flowrun.tasks.create",
    "create_flow_run": "tasks_flowrun.tasks.create",
    "WaitForFlowRun": "tasks_flowrun.tasks.wait",
    "wait_for_flow_run": "tasks_flowrun.tasks.wait",
    "GetTaskRunResult": "tasks_flowrun.tasks.results",
    "get_task_run_result": "tasks_flowrun.tasks.results",
    "restart_flow_run": "tasks_flowrun.tasks.restart_flow_run",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tasks_flowrun' has no attribute {name!r}")


def __dir__() -> list:
    return sorted(list(globals()) + __all__)
