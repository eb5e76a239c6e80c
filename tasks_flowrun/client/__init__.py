"""Small functions over `prefect.Client`: the only code of the plugin that sends GraphQL."""
from .errors import (
    AmbiguousFlowError,
    ArchivedFlowError,
    BackendRejectedError,
    FlowNotFoundError,
    FlowRunNotFoundError,
    ParentGoneError,
)
from .bulk_create import create_flow_runs
from .child_runs import CREATED, CREATED_OR_RE_ATTACHED, RE_ATTACHED, ChildRun, create_child_run
from .flow_cache import FLOW_CACHE, FlowCache
from .flow_runs import (
    flow_run_url,
    flow_run_views,
    read_agents,
    read_flow_runs,
    send_create_flow_run,
    views_from_rows,
)
from .change_stream import ChangeStream, forget_capabilities
from .flows import ChildFlow, find_child_flow
from .restart_in_place import (
    FIRST_RUN,
    PARENT_RECOVERED,
    RERUNS,
    RESTARTED,
    RETRY,
    RerunDetector,
    cancelled_with_parent,
    needs_restart,
    restart_flow_run,
    restart_reason,
    user_cancelled,
)

__all__ = [
    "AmbiguousFlowError",
    "ArchivedFlowError",
    "BackendRejectedError",
    "CREATED",
    "CREATED_OR_RE_ATTACHED",
    "ChildFlow",
    "ChildRun",
    "FLOW_CACHE",
    "FlowCache",
    "FlowNotFoundError",
    "FlowRunNotFoundError",
    "ParentGoneError",
    "RE_ATTACHED",
    "create_child_run",
    "create_flow_runs",
    "send_create_flow_run",
    "find_child_flow",
    "flow_run_url",
    "flow_run_views",
    "read_agents",
    "read_flow_runs",
    "views_from_rows",
    "ChangeStream",
    "forget_capabilities",
    "FIRST_RUN",
    "PARENT_RECOVERED",
    "RERUNS",
    "RESTARTED",
    "RETRY",
    "RerunDetector",
    "cancelled_with_parent",
    "needs_restart",
    "restart_flow_run",
    "restart_reason",
    "user_cancelled",
    "TaskRunNotFoundError",
    "TaskResultUnavailableError",
    "TaskRunPoll",
    "mapped_task_runs",
    "poll_task_run",
    "task_slugs",
]

from .errors import TaskResultUnavailableError, TaskRunNotFoundError  # noqa: E402
from .task_results import TaskRunPoll, mapped_task_runs, poll_task_run, task_slugs  # noqa: E402
