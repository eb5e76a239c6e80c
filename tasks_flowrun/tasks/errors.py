"""Errors and state signals of the plugin's tasks.

Prefect 1 has state signals for Success, Failed, Skipped, TriggerFailed... but none for
`Cancelled` or `TimedOut`, which is why `signal_from_state` raises a `ValueError` for a
child that ended in those states. `CANCEL` and `TIMEOUT` fill that gap: raised from a
task's `run()`, the task runner traps them like any `PrefectStateSignal` and the task ends
in a `Cancelled` / `TimedOut` state. The waiting tasks raise them only when asked to mirror
the child's state (`mirror_final_state=True`); by default such a child fails the task.
"""
from prefect.engine import signals, state

from ..client.errors import (
    AmbiguousFlowError,
    ArchivedFlowError,
    BackendRejectedError,
    FlowNotFoundError,
    FlowRunNotFoundError,
    ParentGoneError,
    TaskResultUnavailableError,
    TaskRunNotFoundError,
)

__all__ = [
    "AmbiguousFlowError",
    "ArchivedFlowError",
    "BackendRejectedError",
    "CANCEL",
    "FlowNotFoundError",
    "FlowRunDeletedError",
    "FlowRunNotFoundError",
    "ParentGoneError",
    "TIMEOUT",
    "TaskResultUnavailableError",
    "TaskRunNotFoundError",
    "WaitTimeoutError",
]


class CANCEL(signals.PrefectStateSignal):
    """
    Ends the task in a `Cancelled` state (e.g. because the child it waited on was cancelled).

    Args:
        - message (Any, optional): a message about the signal
        - *args (Any, optional): passed to the `Cancelled` state
        - **kwargs (Any, optional): passed to the `Cancelled` state
    """

    _state_cls = state.Cancelled


class TIMEOUT(signals.FAIL):
    """
    Ends the task in a `TimedOut` state (a `Failed` subclass, so `FAIL` handlers see it).

    Args:
        - message (Any, optional): a message about the signal
        - *args (Any, optional): passed to the `TimedOut` state
        - **kwargs (Any, optional): passed to the `TimedOut` state
    """

    _state_cls = state.TimedOut


class FlowRunDeletedError(FlowRunNotFoundError):
    """A flow run was deleted while a task waited for it to finish: the wait cannot end
    normally, and ends with this error naming the run."""


class WaitTimeoutError(RuntimeError):
    """`max_duration` (wall-clock, monotonic) elapsed before every waited-on run finished."""
