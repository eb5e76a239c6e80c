"""Small functions over `prefect.Client`: the only code of the plugin that sends GraphQL."""
from .errors import (
    AmbiguousFlowError,
    ArchivedFlowError,
    BackendRejectedError,
    FlowNotFoundError,
    FlowRunNotFoundError,
)
from .flow_runs import create_flow_run, flow_run_url, flow_run_views, read_agents, read_flow_runs
from .flows import ChildFlow, find_child_flow

__all__ = [
    "AmbiguousFlowError",
    "ArchivedFlowError",
    "BackendRejectedError",
    "ChildFlow",
    "FlowNotFoundError",
    "FlowRunNotFoundError",
    "create_flow_run",
    "find_child_flow",
    "flow_run_url",
    "flow_run_views",
    "read_agents",
    "read_flow_runs",
]
