"""The small custom queries: hello, api, reference_data, mapped_children, get_task_run_info."""
from typing import Any, Dict, List, Tuple

import prefect
from prefect.engine import state as prefect_states

from .... import __version__

from ...api import task_runs
from ...api.errors import ApiError
from ..errors import UserError


def hello(_root: Any, _info: Any) -> str:
    return "👋"


def api(_root: Any, info: Any) -> Dict[str, Any]:
    """As Prefect Server answers it; Server's environment variables overriding the versions
    and naming the release time are read at start (`ServerSettings.api_*`)."""
    settings = info.context.settings
    return {"backend": "SERVER", "mode": "normal",
            "version": settings.api_server_version or f"tasks-flowrun {__version__}",
            "core_version": settings.api_core_version or prefect.__version__,
            "release_timestamp": settings.api_release_timestamp}


def reference_data(_root: Any, _info: Any) -> Dict[str, Any]:
    return {"state_hierarchy": STATE_HIERARCHY, "state_info": STATE_INFO}


def mapped_children(_root: Any, info: Any, task_run_id: str) -> Dict[str, Any]:
    info.context.budget.check()
    return task_runs.mapped_children(info.context.conn, task_run_id)


def _state_reference() -> Tuple[Dict[str, List[str]], Dict[str, Dict[str, Any]]]:
    """Each state class with all its subclasses, and each state's color (as Prefect Server)."""
    hierarchy: Dict[str, List[str]] = {}
    colors: Dict[str, Dict[str, Any]] = {}
    for obj in vars(prefect_states).values():
        if isinstance(obj, type) and issubclass(obj, prefect_states.State):
            for parent in obj.mro():
                if isinstance(parent, type) and issubclass(parent, prefect_states.State):
                    hierarchy.setdefault(parent.__name__, []).append(obj.__name__)
            colors[obj.__name__] = {"color": obj.color}
    return hierarchy, colors


STATE_HIERARCHY, STATE_INFO = _state_reference()


def get_task_run_info(_root: Any, info: Any, task_run_id: str) -> Dict[str, Any]:
    try:
        return task_runs.get_task_run_info(info.context.conn, task_run_id)
    except ApiError as exc:
        raise UserError(str(exc), exc.code) from None


QUERY_RESOLVERS = {"hello": hello, "api": api, "reference_data": reference_data,
                   "get_task_run_info": get_task_run_info, "mapped_children": mapped_children}
