"""`GetTaskRunResult`: load the result of a task run of another flow run (e.g. a child's)."""
import contextlib
import copy
import datetime
import time
from typing import Any, Callable, Dict, List, Optional, Union

import prefect
from prefect import Task
from prefect.engine.result import Result
from prefect.engine.state import State
from prefect.serialization.result import StateResultSchema
from prefect.utilities.tasks import defaults_from_attrs

from ..client import (
    TaskResultUnavailableError,
    TaskRunNotFoundError,
    mapped_task_runs,
    poll_task_run,
    task_slugs,
)
from ..slots import blocked_on_children
from .errors import WaitTimeoutError
from .times import to_seconds
from .validate import check_uuid

DEFAULT_MAX_DURATION = datetime.timedelta(hours=12)
Seconds = Union[datetime.timedelta, int, float]
MINIMUM_POLL_TIME = 0.5

_PERSIST_HINT = (
    "configure a Result on the child's task or flow, e.g. `PrefectResult()` (small JSON values, "
    "kept in the backend) or `LocalResult(dir=...)` / `S3Result(...)` readable from here, and "
    "leave checkpointing on"
)


def describe(task_slug: str, map_index: int) -> str:
    """How a task run is named in messages: `'slug'` or `'slug[2]'`."""
    return repr(task_slug) if map_index == -1 else repr(f"{task_slug}[{map_index}]")


def load_task_run_result(row: Dict[str, Any], what: str) -> Any:
    """
    The value of a finished task run, read from its serialized state's result location.

    Args:
        - row (dict): the task run's `state` and `serialized_state`
        - what (str): how to name the task run in messages

    Returns:
        - Any: the value the task returned

    Raises:
        - TaskResultUnavailableError: no result was persisted, or its `Result` class cannot
            be rebuilt here
    """
    serialized = copy.deepcopy(row.get("serialized_state") or {})  # deserializing edits it
    # The result travels as the state's `_result` field of Prefect's wire format
    payload = dict(serialized.get("_result") or {})
    result_type, location = payload.get("type"), payload.get("location")
    state = State.deserialize(serialized)
    if location is None:
        if state.is_successful():
            raise TaskResultUnavailableError(
                f"Task run {what} finished {type(state).__name__} but its result was not persisted: {_PERSIST_HINT}."
            )
        raise TaskResultUnavailableError(
            f"Task run {what} finished in state {type(state).__name__} ({state.message}) and has no result."
        )
    result = StateResultSchema().load(payload)
    if type(result) is Result:
        # Prefect rebuilds result classes it does not know as a bare `Result`, which cannot read
        raise TaskResultUnavailableError(
            f"Task run {what} persisted its result with {result_type!r}, which Prefect cannot "
            f"rebuild from its serialized form; use one of Prefect's Result classes, e.g. "
            f"`PrefectResult()` or `LocalResult`."
        )
    return result.read(location).value


class GetTaskRunResult(Task):
    """
    Task that loads the result of a task run of another flow run (typically a child created
    by `create_flow_run`), identified by the task's slug and map index.

    It polls every `poll_time` until that task run is finished (one request per poll), then
    loads the value from the task run's result location, with the `Result` class the task
    ran with. The result must have been persisted (a `Result` configured on the child's
    task or flow, e.g. `PrefectResult()`) and its location be readable from where this
    task runs (a `LocalResult` written on another machine is not). For the parent of a
    mapped task (`map_index=-1`), it waits for the flow run to finish and returns the list
    of the children's results.

    Args:
        - flow_run_id (str, optional): the flow run the task run belongs to
        - task_slug (str, optional): the slug of the task, e.g. `"double-1"` (a task's
            `slug` attribute is set once its flow is registered)
        - map_index (int, optional): the map index of a mapped task run; defaults to -1
            (an unmapped task, or all the children of a mapped one)
        - poll_time (timedelta or seconds, optional): the interval between polls while
            the task run is not finished (at least 0.5 s); defaults to 5 seconds
        - max_duration (timedelta or seconds, optional): wall-clock limit on the wait;
            `None` waits forever; defaults to 12 hours
        - **kwargs (Any, optional): additional keyword arguments to pass to the Task
            constructor

    Example:
        ```python
        from prefect import Flow
        from tasks_flowrun import create_flow_run, get_task_run_result

        with Flow("parent") as flow:
            child_id = create_flow_run(flow_name="child")
            doubled = get_task_run_result(child_id, task_slug="double-1")
        ```
    """

    def __init__(
        self,
        flow_run_id: Optional[str] = None,
        task_slug: Optional[str] = None,
        map_index: int = -1,
        poll_time: Seconds = 5,
        max_duration: Optional[Seconds] = DEFAULT_MAX_DURATION,
        **kwargs: Any,
    ) -> None:
        self.flow_run_id = flow_run_id
        self.task_slug = task_slug
        self.map_index = map_index
        self.poll_time = poll_time
        self.max_duration = max_duration
        kwargs.setdefault("name", "get_task_run_result")
        super().__init__(**kwargs)

    @defaults_from_attrs("flow_run_id", "task_slug", "map_index", "poll_time", "max_duration")
    def run(  # type: ignore[override]
        self,
        flow_run_id: Optional[str] = None,
        task_slug: Optional[str] = None,
        map_index: Optional[int] = None,
        poll_time: Optional[Seconds] = None,
        max_duration: Optional[Seconds] = None,
    ) -> Any:
        """
        Wait for the task run to finish and return its result. Every argument overrides
        the value given at construction; see the class docstring for their meaning.

        Returns:
            - Any: the value the task returned (a list for the parent of a mapped task)

        Raises:
            - ValueError, TypeError: for bad arguments (nothing is sent)
            - FlowRunNotFoundError: the flow run does not exist
            - TaskRunNotFoundError: the flow run's flow has no task with this slug, or
                the finished flow run has no task run with this map index
            - TaskResultUnavailableError: the task run finished without a result that
                can be loaded (not persisted, failed, unknown `Result` class)
            - WaitTimeoutError: `max_duration` elapsed first
        """
        run_id = check_uuid(flow_run_id, "flow_run_id")
        if not isinstance(task_slug, str) or not task_slug.strip():
            raise ValueError("`task_slug` is required: the slug of the task whose result to load, e.g. 'double-1'.")
        slug = task_slug.strip()
        if not isinstance(map_index, int) or isinstance(map_index, bool) or map_index < -1:
            raise ValueError(f"`map_index` must be an int of -1 (not mapped) or more; got {map_index!r}.")
        interval = to_seconds(poll_time, "poll_time", allow_none=False)
        if interval < MINIMUM_POLL_TIME:  # type: ignore[operator]
            raise ValueError(f"`poll_time` must be at least {MINIMUM_POLL_TIME} s; got {poll_time!r}.")
        limit = to_seconds(max_duration, "max_duration")
        if prefect.context.get("flow_run_id") == run_id:
            raise ValueError(
                f"`flow_run_id` {run_id!r} is the flow run this task belongs to; it cannot wait for its own task runs."
            )
        with contextlib.ExitStack() as stack:  # under `tasks-flowrun agent`, waiting frees this run's slot
            block = lambda: stack.enter_context(blocked_on_children())  # noqa: E731  # at the first wait
            return self._wait_and_load(run_id, slug, map_index, interval, limit, block)  # type: ignore[arg-type]

    def _wait_and_load(
        self, flow_run_id: str, slug: str, map_index: int, interval: float, limit: Optional[float],
        block: Optional[Callable[[], Any]] = None,
    ) -> Any:
        client = prefect.Client()
        what = f"{describe(slug, map_index)} of flow run {flow_run_id!r}"
        deadline = None if limit is None else time.monotonic() + limit
        slug_known = False
        while True:
            poll = poll_task_run(client, flow_run_id, slug, map_index)
            flow_state = State.deserialize(poll.flow_run_state)
            row = poll.task_run
            # a task run the backend created ahead of its run may have no state yet
            task_state = State.deserialize(row["serialized_state"]) if row and row.get("serialized_state") else None
            if task_state is not None and task_state.is_finished():
                if not task_state.is_mapped():
                    return load_task_run_result(row, what)  # type: ignore[arg-type]
                if flow_state.is_finished():  # then every mapped child exists and is finished
                    return self._load_mapped(client, flow_run_id, slug)
            if row is None and not slug_known:
                known = task_slugs(client, flow_run_id)
                if slug not in known:
                    raise TaskRunNotFoundError(
                        f"No task with slug {slug!r} in flow run {poll.flow_run_name!r} ({flow_run_id}); "
                        f"known slugs: {', '.join(known) or 'none'}."
                    )
                slug_known = True
            if flow_state.is_finished():
                ended = f"Flow run {poll.flow_run_name!r} ({flow_run_id}) finished in state {type(flow_state).__name__}"
                if row is None:
                    raise TaskRunNotFoundError(f"{ended} without a task run {describe(slug, map_index)}.")
                if task_state is None or not task_state.is_finished():
                    was = type(task_state).__name__ if task_state is not None else "not started"
                    raise TaskResultUnavailableError(f"{ended} while task run {what} was {was}; it has no result.")
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                where = type(task_state).__name__ if task_state is not None else "not created yet"
                raise WaitTimeoutError(f"Task run {what} did not finish within `max_duration` ({limit} s): it is {where}.")
            self.logger.debug(f"Waiting for task run {what} to finish...")
            if block is not None:
                block()
                block = None
            time.sleep(interval if remaining is None else min(interval, remaining))

    def _load_mapped(self, client: "prefect.Client", flow_run_id: str, slug: str) -> List[Any]:
        rows = mapped_task_runs(client, flow_run_id, slug)
        return [load_task_run_result(row, f"{describe(slug, row['map_index'])} of flow run {flow_run_id!r}") for row in rows]


get_task_run_result = GetTaskRunResult()
