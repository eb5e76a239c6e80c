"""Operations of Prefect Cloud (or of multi-tenant deployments) this backend does not serve.

A document asking for one is answered with one clear error naming it, instead of a
validation error about an unknown field or input type.
"""
from typing import List, Optional

CLOUD_ONLY = (
    # secrets, key-value store, concurrency limits, users and API keys, agent configs
    "set_secret", "delete_secret", "secret_names", "secret_value",
    "set_key_value", "delete_key_value", "key_value",
    "update_task_tag_limit", "delete_task_tag_limit", "task_tag_limit",
    "create_flow_concurrency_limit", "update_flow_concurrency_limit", "delete_flow_concurrency_limit",
    "flow_concurrency_limit",
    "create_api_key", "delete_api_key", "auth_info", "user", "create_service_account",
    "switch_tenant", "create_tenant_membership", "set_flow_run_priority",
    "create_agent_config", "agent_config", "delete_agent_config", "update_agent_config",
)
# Prefect Server's mutations on tenants other than creating one: this backend serves one
# tenant (`create_tenant` exists for clients that set one up).
MULTI_TENANT = ("delete_tenant", "update_tenant_name", "update_tenant_slug", "update_tenant_settings")


def refusal(root_fields: List[str]) -> Optional[str]:
    """The error for the first Cloud-only or multi-tenant root field asked for, or None."""
    for name in root_fields:
        if name in CLOUD_ONLY:
            return (f"{name} is a Prefect Cloud feature, not supported by this backend "
                    "(tasks-flowrun serves the Prefect Server API).")
        if name in MULTI_TENANT:
            return (f"{name} manages several tenants, not supported by this backend "
                    "(tasks-flowrun serves a single tenant).")
    return None
