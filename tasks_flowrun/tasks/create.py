"""`CreateFlowRun`: create a child flow run (by flow id, flow group id or name), optionally wait."""
import uuid
from typing import Any, Dict, Iterable, Optional

import prefect
from prefect import Task
from prefect.engine import signals
from prefect.engine.results import PrefectResult
from prefect.run_configs import RunConfig
from prefect.utilities.tasks import defaults_from_attrs

from ..client import (
    CREATED,
    FIRST_RUN,
    PARENT_RECOVERED,
    RE_ATTACHED,
    RERUNS,
    RESTARTED,
    RETRY,
    ChildFlow,
    ParentGoneError,
    create_child_run,
    flow_run_url,
    needs_restart,
    read_flow_runs,
    restart_flow_run,
    restart_reason,
    user_cancelled,
)
from ..slots import blocked_on_children
from .child_restarts import rerun_advice
from .backoff import DEFAULT_MINIMUM
from .keys import CANCEL_WITH_PARENT, default_idempotency_key, default_run_name, parent_context
from .outcome import final_signal, user_cancelled_ids
from .times import StartTime, resolve_start_time
from .validate import (
    check_json_object,
    check_labels,
    check_optional_str,
    check_uuid,
    serialize_run_config,
)
from .wait import DEFAULT_MAX_DURATION, Seconds, check_wait_options, wait_for_runs

_OPTIONS = (
    "flow_id",
    "flow_group_id",
    "flow_name",
    "project_name",
    "parameters",
    "context",
    "labels",
    "run_name",
    "run_config",
    "scheduled_start_time",
    "idempotency_key",
    "wait",
    "stream_states",
    "stream_logs",
    "raise_final_state",
    "max_duration",
    "poll_interval",
    "mirror_final_state",
    "restart_failed",
    "cancel_with_parent",
)


def _check_identifier(
    flow_id: Optional[str], flow_group_id: Optional[str], flow_name: Optional[str], project_name: Optional[str]
) -> Dict[str, Optional[str]]:
    given = [name for name, value in (("flow_id", flow_id), ("flow_group_id", flow_group_id), ("flow_name", flow_name)) if value]
    if len(given) != 1:
        what = "none of them was" if not given else f"got {' and '.join(given)}"
        raise ValueError(
            f"Pass exactly one of `flow_id`, `flow_group_id` or `flow_name` to identify the child flow; {what}."
        )
    if project_name and not flow_name:
        raise ValueError("`project_name` only narrows a `flow_name` look-up; drop it when passing an id.")
    return {
        "flow_id": check_uuid(flow_id, "flow_id") if flow_id else None,
        "flow_group_id": check_uuid(flow_group_id, "flow_group_id") if flow_group_id else None,
        "flow_name": check_optional_str(flow_name, "flow_name"),
        "project_name": check_optional_str(project_name, "project_name"),
    }


class CreateFlowRun(Task):
    """
    Task that creates a run of a registered flow (a "child") and returns its id.

    The child is identified by exactly one of `flow_id` (a flow-group id works too),
    `flow_group_id` (its newest unarchived version runs) or `flow_name` (+ `project_name`).
    The task sends at most one flow look-up and one create. Look-ups are cached for 60 s
    per process and backend, so the other children of a mapped fan-out cost one request
    each (the create). Should the backend refuse a create made from a cached look-up (the
    flow was archived or deleted since), a fresh look-up decides as if nothing had been
    cached, which costs one more create only if the flow changed in between.

    A default idempotency key, derived from the parent flow run, this task and the map index,
    makes task retries and parent restarts return the child created the first time, even if
    the child flow was re-registered in between (a look-up finds the run made with the key
    and sends no create; a create sent from a cached look-up is idempotent on the key); each
    map index and each create task gets its own child. The child's context records its
    parent (`parent_flow_run_id`, `parent_task_run_id`, `parent_map_index`).

    Args:
        - flow_id (str, optional): the id of the flow (or of its flow group) to run
        - flow_group_id (str, optional): the id of the flow group to run
        - flow_name (str, optional): the name of the flow to run
        - project_name (str, optional): the project of `flow_name`, needed if the name is
            used in several projects
        - parameters (dict, optional): JSON-serializable parameters of the child run
        - context (dict, optional): JSON-serializable context of the child run (merged
            with the parent record)
        - labels (Iterable[str], optional): labels of the child run; defaults to the
            flow's labels
        - run_name (str, optional): name of the child run; defaults to
            `<parent run name>-<flow name>[-<map index>]`
        - run_config (RunConfig, optional): a run config overriding the flow's
        - scheduled_start_time (datetime, str or timedelta, optional): when to start:
            a datetime (naive means UTC), an ISO-8601 string, or a delay from now
            (`timedelta` / `pendulum.Duration`, not negative); defaults to now
        - idempotency_key (str, optional): overrides the default key
        - wait (bool, optional): also wait for the child to finish; defaults to `False`
        - stream_states (bool, optional): with `wait`, log the child's state changes;
            defaults to `True`
        - stream_logs (bool, optional): with `wait`, log the child's log lines;
            defaults to `False`
        - raise_final_state (bool, optional): with `wait`, end this task `Success` if the
            child succeeded, else `Failed` with a message naming the child and its state
            (a TriggerFailed / ValidationFailed child keeps that class); defaults to `True`
        - max_duration (timedelta or seconds, optional): with `wait`, the wall-clock
            limit; defaults to 12 hours
        - poll_interval (timedelta or seconds, optional): with `wait`, the shortest poll
            interval (at least 0.5 s); defaults to 0.5 s
        - mirror_final_state (bool, optional): with `wait` and `raise_final_state`, end
            this task in the child's own state class instead (`Cancelled`, `TimedOut`,
            `Skipped`...); Prefect does not count a Cancelled or Skipped task as failed,
            so the parent flow may then end `Success`; defaults to `False`
        - restart_failed (bool, optional): when this task runs again (a retry, or a restart
            of the parent) and finds its child ended Failed (TimedOut included) or
            cancelled with the parent, restart that child in place (its failed task runs
            rerun, successful ones keep their results, the id stays the same); a child a
            user cancelled stays Cancelled (the wait then fails saying so); a parent the
            backend recovered after its process died restarts no child; `False` re-attaches
            to it as it is; a child still running is re-attached and a successful one
            reused either way; defaults to `True`
        - cancel_with_parent (bool, optional): cancel the child when its parent flow run is
            cancelled (on the embedded backend, recorded in the child's context as
            `cancel_with_parent`); `False` detaches it; defaults to `True`
        - **kwargs (Any, optional): additional keyword arguments to pass to the Task
            constructor; the task's `result` defaults to a `PrefectResult`, so the child
            id survives a restart of the parent without any result configuration

    Example:
        ```python
        from prefect import Flow, unmapped
        from tasks_flowrun import create_flow_run, wait_for_flow_run

        with Flow("parent") as flow:
            ids = create_flow_run.map(
                flow_name=unmapped("child"), parameters=[{"n": 1}, {"n": 2}, {"n": 3}]
            )
            wait_for_flow_run.map(ids, raise_final_state=unmapped(True))
        ```
    """

    def __init__(
        self,
        flow_id: Optional[str] = None,
        flow_group_id: Optional[str] = None,
        flow_name: Optional[str] = None,
        project_name: Optional[str] = None,
        parameters: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        labels: Optional[Iterable[str]] = None,
        run_name: Optional[str] = None,
        run_config: Optional[RunConfig] = None,
        scheduled_start_time: Optional[StartTime] = None,
        idempotency_key: Optional[str] = None,
        wait: bool = False,
        stream_states: bool = True,
        stream_logs: bool = False,
        raise_final_state: bool = True,
        max_duration: Optional[Seconds] = DEFAULT_MAX_DURATION,
        poll_interval: Seconds = DEFAULT_MINIMUM,
        mirror_final_state: bool = False,
        restart_failed: bool = True,
        cancel_with_parent: bool = True,
        **kwargs: Any,
    ) -> None:
        self.flow_id = flow_id
        self.flow_group_id = flow_group_id
        self.flow_name = flow_name
        self.project_name = project_name
        self.parameters = parameters
        self.context = context
        self.labels = labels
        self.run_name = run_name
        self.run_config = run_config
        self.scheduled_start_time = scheduled_start_time
        self.idempotency_key = idempotency_key
        self.wait = wait
        self.stream_states = stream_states
        self.stream_logs = stream_logs
        self.raise_final_state = raise_final_state
        self.max_duration = max_duration
        self.poll_interval = poll_interval
        self.mirror_final_state = mirror_final_state
        self.restart_failed = restart_failed
        self.cancel_with_parent = cancel_with_parent
        kwargs.setdefault("name", "create_flow_run")
        # The child id is small JSON: kept in the backend with the task's state, so a
        # restarted parent reads it back with no result storage configured.
        kwargs.setdefault("result", PrefectResult())
        super().__init__(**kwargs)

    @defaults_from_attrs(*_OPTIONS)
    def run(  # type: ignore[override]
        self,
        flow_id: Optional[str] = None,
        flow_group_id: Optional[str] = None,
        flow_name: Optional[str] = None,
        project_name: Optional[str] = None,
        parameters: Optional[Dict[str, Any]] = None,
        context: Optional[Dict[str, Any]] = None,
        labels: Optional[Iterable[str]] = None,
        run_name: Optional[str] = None,
        run_config: Optional[RunConfig] = None,
        scheduled_start_time: Optional[StartTime] = None,
        idempotency_key: Optional[str] = None,
        wait: Optional[bool] = None,
        stream_states: Optional[bool] = None,
        stream_logs: Optional[bool] = None,
        raise_final_state: Optional[bool] = None,
        max_duration: Optional[Seconds] = None,
        poll_interval: Optional[Seconds] = None,
        mirror_final_state: Optional[bool] = None,
        restart_failed: Optional[bool] = None,
        cancel_with_parent: Optional[bool] = None,
    ) -> str:
        """
        Create the child run (and wait for it if `wait`). Every argument overrides the
        value given at construction; see the class docstring for their meaning.

        Returns:
            - str: the child's flow run id

        Raises:
            - ValueError, TypeError: for bad arguments (nothing is created)
            - FlowNotFoundError, AmbiguousFlowError, ArchivedFlowError: the look-up failed
            - BackendRejectedError: the backend refused the run (e.g. missing parameter)
            - FAIL: the parent flow run is cancelled or was deleted, so the backend refused
                the child (the message says which; nothing was created)
        """
        ident = _check_identifier(flow_id, flow_group_id, flow_name, project_name)
        inputs: Dict[str, Any] = {
            "parameters": check_json_object(parameters, "parameters"),
            "labels": check_labels(labels),
            "flow_run_name": check_optional_str(run_name, "run_name"),
            "run_config": serialize_run_config(run_config),
            "idempotency_key": check_optional_str(idempotency_key, "idempotency_key"),
        }
        user_context = check_json_object(context, "context") or {}
        start = resolve_start_time(scheduled_start_time)
        # validated now, so that a bad option fails before the child exists
        limit, backoff = check_wait_options(max_duration, poll_interval) if wait else (None, None)

        key = inputs["idempotency_key"] or default_idempotency_key()
        inputs["idempotency_key"] = key or uuid.uuid4().hex  # the backend dedupes resends too
        record = parent_context()
        if record:
            record[CANCEL_WITH_PARENT] = bool(cancel_with_parent)
        inputs["context"] = {**user_context, **record}  # the parent record wins
        inputs["scheduled_start_time"] = start.isoformat() if start is not None else None

        def inputs_for(child: ChildFlow) -> Dict[str, Any]:
            return {**inputs, "flow_run_name": inputs["flow_run_name"] or default_run_name(child.name)}

        # One request (the create) when this process resolved the flow lately, e.g. for an
        # earlier child of the same fan-out; else a look-up (which also finds a run already
        # made with this key: retry / restart) and a create. A retry or a restarted parent
        # always looks up, to learn the state of a child made by an earlier attempt.
        client = prefect.Client()
        rerun = RERUNS.kind(client) if key else FIRST_RUN
        try:
            made = create_child_run(
                client,
                inputs_for,
                key,
                flow_id=ident["flow_id"],
                flow_group_id=ident["flow_group_id"],
                flow_name=ident["flow_name"],
                project_name=ident["project_name"],
                fresh=rerun != FIRST_RUN,
            )
        except ParentGoneError as exc:  # the parent was cancelled or deleted meanwhile
            raise signals.FAIL(str(exc)) from None
        child, flow_run_id = made.child, made.flow_run_id
        shown = inputs_for(child)["flow_run_name"] or "<named by the backend>"
        url = flow_run_url(child.tenant_slug, flow_run_id)
        what = f"child flow run {shown!r} of flow {child.name!r} (project {child.project_name!r}): {flow_run_id}"
        if made.outcome == CREATED:
            message = f"Created {what}"
        elif made.outcome == RE_ATTACHED:
            message = self._re_attached(client, rerun, bool(restart_failed), made.state, flow_run_id, what)
        else:
            message = f"Created (or, on a retry or restart, re-attached to) {what}"
        self.logger.info(message + (f" {url}" if url else ""))
        if not wait:
            return flow_run_id
        with blocked_on_children():  # under `tasks-flowrun agent`, waiting frees this run's slot
            views = wait_for_runs(
                [flow_run_id], bool(stream_states), bool(stream_logs), limit, backoff, self.logger  # type: ignore[arg-type]
            )
        if raise_final_state:
            raise final_signal([views[0].name], [views[0].state], flow_run_id, mirror=bool(mirror_final_state),
                               cancelled_by_users=user_cancelled_ids(views))
        return flow_run_id

    @staticmethod
    def _re_attached(client: "prefect.Client", rerun: str, restart_failed: bool, state: Optional[str],
                     flow_run_id: str, what: str) -> str:
        """Restart the child a rerun found, if the rules say so (see `child_restarts.py`);
        the line to log."""
        if not (restart_failed and rerun in (RETRY, RESTARTED) and needs_restart(state)):
            why = ", restarting none: the parent was recovered after its process died" if rerun == PARENT_RECOVERED else ""
            return f"Re-attached to {what} ({state or 'state unknown'}{why})"
        row = read_flow_runs(client, [flow_run_id]).get(flow_run_id) or {}
        reason = restart_reason(row)
        if reason is not None:
            restart_flow_run(client, flow_run_id, f"Restarted by a rerun of its parent's task {_task_label()}: "
                                                  f"it {reason}.")
            return f"Restarted {what}, which {reason}:"
        if user_cancelled(row):
            return f"Re-attached to {what}, which a user cancelled: it stays Cancelled ({rerun_advice(flow_run_id)})"
        return f"Re-attached to {what} ({state or 'state unknown'})"


def _task_label() -> str:
    """The current task run, for messages: `slug[map index]`."""
    ctx = prefect.context
    label = str(ctx.get("task_slug") or ctx.get("task_name") or "task")
    index = ctx.get("map_index")
    return f"{label}[{index}]" if isinstance(index, int) and index >= 0 else label


create_flow_run = CreateFlowRun()
