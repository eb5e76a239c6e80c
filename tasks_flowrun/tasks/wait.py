"""`WaitForFlowRun`: block until one or many flow runs finish, streaming what they do."""
import datetime
import logging
from typing import Any, List, Optional, Sequence, Tuple, Union

import prefect
from prefect import Task
from prefect.backend import FlowRunView
from prefect.utilities.tasks import defaults_from_attrs

from ..client import RERUNS, RESTARTED, RETRY, ChangeStream, read_flow_runs, views_from_rows
from ..slots import blocked_on_children
from .child_restarts import restart_children
from .backoff import DEFAULT_MAXIMUM, DEFAULT_MINIMUM, PollBackoff
from .outcome import final_signal, user_cancelled_ids
from .times import to_seconds
from .validate import check_uuid
from .wait_loop import WaitLoop

DEFAULT_MAX_DURATION = datetime.timedelta(hours=12)
Seconds = Union[datetime.timedelta, int, float]


def check_wait_options(
    max_duration: Optional[Seconds],
    poll_interval: Optional[Seconds] = None,
    max_poll_interval: Optional[Seconds] = None,
) -> Tuple[Optional[float], PollBackoff]:
    """
    Validate the waiting options before anything is sent.

    Args:
        - max_duration (timedelta or seconds, optional): wall-clock limit; `None` = no limit
        - poll_interval (timedelta or seconds, optional): the shortest interval between
            polls; `None` means the default, 0.5 s
        - max_poll_interval (timedelta or seconds, optional): the longest interval between
            polls; defaults to 10 s (or `poll_interval` if that is longer)

    Returns:
        - Tuple[float, PollBackoff]: `max_duration` in seconds, and the poll schedule

    Raises:
        - TypeError, ValueError: for bad values (negative, below the floor, ...)
    """
    limit = to_seconds(max_duration, "max_duration")
    minimum = to_seconds(DEFAULT_MINIMUM if poll_interval is None else poll_interval, "poll_interval")
    maximum = to_seconds(max_poll_interval, "max_poll_interval")
    if maximum is None:
        maximum = max(DEFAULT_MAXIMUM, minimum or 0.0)
    return limit, PollBackoff(minimum=minimum, maximum=maximum)  # type: ignore[arg-type]


def wait_for_runs(
    flow_run_ids: Sequence[str],
    stream_states: bool,
    stream_logs: bool,
    max_duration: Optional[float],
    backoff: PollBackoff,
    logger: Optional[logging.Logger] = None,
    restart_failed: bool = False,
) -> List[FlowRunView]:
    """
    Poll (one request per poll) until every run is finished, then build their views
    (one more request). Between polls, a backend that pushes changes holds one request
    until a run changes; others are polled by `backoff`.

    Args:
        - flow_run_ids (Sequence[str]): validated ids, duplicates allowed
        - stream_states (bool): log the runs' state changes
        - stream_logs (bool): log the runs' log lines
        - max_duration (float, optional): seconds before `WaitTimeoutError`
        - backoff (PollBackoff): the poll schedule
        - logger (logging.Logger, optional): defaults to the task run's logger
        - restart_failed (bool, optional): on a retry of the task or a restart of its
            parent, first restart (in place) the runs that ended Failed (TimedOut
            included) or were cancelled with the parent; a run a user cancelled stays
            Cancelled; a parent recovered after its process died restarts none (see
            `child_restarts.py`; one more request to read them, and two per restart)

    Returns:
        - List[FlowRunView]: views of the finished runs, in the order given
    """
    client = prefect.Client()
    logger = logger or prefect.context.get("logger") or logging.getLogger("tasks_flowrun")
    unique = list(dict.fromkeys(flow_run_ids))
    if restart_failed and RERUNS.kind(client) in (RETRY, RESTARTED):
        restart_children(client, read_flow_runs(client, unique), logger, "a rerun of the task waiting for it")
    push = ChangeStream(client, logs=stream_logs)
    rows = WaitLoop(client, unique, stream_states, stream_logs, max_duration, backoff, logger, push=push).run()
    return views_from_rows(rows, list(flow_run_ids))


def _check_ids(flow_run_id: Union[str, Sequence[str], None]) -> Tuple[List[str], bool]:
    if flow_run_id is None:
        raise ValueError("`flow_run_id` is required: pass a flow run id or a list of them.")
    single = isinstance(flow_run_id, str)
    items = [flow_run_id] if single else flow_run_id
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"`flow_run_id` must be an id or a list of ids; got {type(flow_run_id).__name__}.")
    ids = [check_uuid(item, "flow_run_id") for item in items]
    own = prefect.context.get("flow_run_id")
    if own and own in ids:
        raise ValueError(
            f"`flow_run_id` {own!r} is the flow run this task belongs to; a run cannot wait for itself."
        )
    return ids, single


class WaitForFlowRun(Task):
    """
    Task that waits for one or many flow runs to finish, streaming their states and logs
    into this task's log, and returns views of the finished runs.

    Polling costs one request per poll for all the runs waited on. The interval starts at
    `poll_interval` and stays there for 10 s after the last state change of any run, then
    grows by 1.5x per quiet poll up to `max_poll_interval`; any change snaps it back.

    Args:
        - flow_run_id (str or List[str], optional): the run (or runs) to wait for
        - stream_states (bool, optional): log every state change of the runs, prefixed by
            the run's name; defaults to `True`
        - stream_logs (bool, optional): log the runs' own log lines, prefixed by the run's
            name; defaults to `False`
        - raise_final_state (bool, optional): end this task as the child ended instead of
            returning: `Success` if it (for a list: every child) succeeded, else `Failed`
            with a message naming each child that did not succeed and its state (a
            TriggerFailed / ValidationFailed child keeps that class); defaults to `False`
        - mirror_final_state (bool, optional): with `raise_final_state`, end this task in
            the (worst) child's own state class instead: `Cancelled`, `TimedOut`,
            `Skipped`... Note that Prefect does not count a Cancelled or Skipped task as
            failed, so the parent flow may then end `Success`; defaults to `False`
        - restart_failed (bool, optional): on a retry of this task or a restart of its
            parent flow run, first restart in place the runs that ended Failed (TimedOut
            included) or were cancelled with the parent (their failed task runs rerun,
            successful ones keep their results), then wait for them; a run a user
            cancelled stays Cancelled (the task then fails saying so), and a parent the
            backend recovered after its process died restarts none; `False` waits on them
            as they are; defaults to `True`
        - max_duration (timedelta or seconds, optional): wall-clock limit (measured on a
            monotonic clock); `WaitTimeoutError` names the unfinished runs when it is
            reached; `None` waits forever; defaults to 12 hours
        - poll_interval (timedelta or seconds, optional): the shortest interval between
            polls; at least 0.5 s; defaults to 0.5 s
        - max_poll_interval (timedelta or seconds, optional): the longest interval
            between polls once the backoff has grown; defaults to 10 s
        - **kwargs (Any, optional): additional keyword arguments to pass to the Task
            constructor

    Example:
        ```python
        from prefect import Flow, unmapped
        from tasks_flowrun import create_flow_run, wait_for_flow_run

        with Flow("parent") as flow:
            ids = create_flow_run.map(flow_name=unmapped("child"), parameters=[{"x": 1}, {"x": 2}])
            views = wait_for_flow_run(ids, raise_final_state=True)
        ```
    """

    def __init__(
        self,
        flow_run_id: Union[str, List[str], None] = None,
        stream_states: bool = True,
        stream_logs: bool = False,
        raise_final_state: bool = False,
        max_duration: Optional[Seconds] = DEFAULT_MAX_DURATION,
        poll_interval: Seconds = DEFAULT_MINIMUM,
        max_poll_interval: Seconds = DEFAULT_MAXIMUM,
        mirror_final_state: bool = False,
        restart_failed: bool = True,
        **kwargs: Any,
    ) -> None:
        self.flow_run_id = flow_run_id
        self.stream_states = stream_states
        self.stream_logs = stream_logs
        self.raise_final_state = raise_final_state
        self.max_duration = max_duration
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.mirror_final_state = mirror_final_state
        self.restart_failed = restart_failed
        kwargs.setdefault("name", "wait_for_flow_run")
        super().__init__(**kwargs)

    @defaults_from_attrs(
        "flow_run_id",
        "stream_states",
        "stream_logs",
        "raise_final_state",
        "max_duration",
        "poll_interval",
        "max_poll_interval",
        "mirror_final_state",
        "restart_failed",
    )
    def run(  # type: ignore[override]
        self,
        flow_run_id: Union[str, List[str], None] = None,
        stream_states: Optional[bool] = None,
        stream_logs: Optional[bool] = None,
        raise_final_state: Optional[bool] = None,
        max_duration: Optional[Seconds] = None,
        poll_interval: Optional[Seconds] = None,
        max_poll_interval: Optional[Seconds] = None,
        mirror_final_state: Optional[bool] = None,
        restart_failed: Optional[bool] = None,
    ) -> Union[FlowRunView, List[FlowRunView]]:
        """
        Wait for the run(s) to finish.

        Args:
            - flow_run_id (str or List[str], optional): the run (or runs) to wait for
            - stream_states (bool, optional): log state changes
            - stream_logs (bool, optional): log the runs' log lines
            - raise_final_state (bool, optional): end `Success` if every child succeeded,
                else `Failed` naming the children that did not
            - max_duration (timedelta or seconds, optional): wall-clock limit
            - poll_interval (timedelta or seconds, optional): shortest poll interval
            - max_poll_interval (timedelta or seconds, optional): longest poll interval
            - mirror_final_state (bool, optional): with `raise_final_state`, end in the
                (worst) child's own state class (Cancelled, TimedOut, Skipped...)
            - restart_failed (bool, optional): on a retry or a parent restart, restart the
                runs that ended unsuccessfully before waiting

        Returns:
            - FlowRunView or List[FlowRunView]: the finished run(s), in the order given

        Raises:
            - ValueError, TypeError: for bad arguments (nothing is sent)
            - FlowRunNotFoundError: an id does not exist
            - WaitTimeoutError: `max_duration` elapsed first
        """
        ids, single = _check_ids(flow_run_id)
        limit, backoff = check_wait_options(max_duration, poll_interval, max_poll_interval)  # type: ignore[arg-type]
        if not ids:
            return []
        with blocked_on_children():  # under `tasks-flowrun agent`, waiting frees this run's slot
            views = wait_for_runs(
                ids, bool(stream_states), bool(stream_logs), limit, backoff, self.logger, bool(restart_failed)
            )
        result: Union[FlowRunView, List[FlowRunView]] = views[0] if single else views
        if raise_final_state:
            raise final_signal(
                [v.name for v in views], [v.state for v in views], result, mirror=bool(mirror_final_state),
                cancelled_by_users=user_cancelled_ids(views),
            )
        return result


wait_for_flow_run = WaitForFlowRun()
