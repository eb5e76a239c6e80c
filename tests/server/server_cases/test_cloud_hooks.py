"""Prefect Server's tests/graphql/test_cloud_hooks.py: not ported.

Cloud hooks send notifications of flow run state changes (Slack, Twilio, PagerDuty, webhooks,
Prefect UI messages). This backend treats them as a Prefect Cloud feature: every cloud hook
operation answers one clear NOT_SUPPORTED error (graphql/unsupported.py), checked here.
"""
import pytest

from tests.server.server_cases.calls import skipped_cases

CLOUD_HOOKS = "cloud hooks are a Prefect Cloud feature here: every cloud hook operation answers NOT_SUPPORTED"

test_server_case_not_ported = skipped_cases({
    f"TestCreateCloudHook::{name}": CLOUD_HOOKS for name in (
        "test_create_hook", "test_create_slack_hook", "test_create_prefect_message_hook",
        "test_create_twilio_hook", "test_create_pagerduty_hook", "test_create_webhook_with_options",
        "test_create_webhook_with_case_insensitive_states", "test_create_webhook_with_repeated_states",
        "test_webhook_with_invalid_states_fails",
    )
} | {
    "TestDeleteWebhook::test_delete_hook": CLOUD_HOOKS,
    "TestSetCloudHookActive::test_set_hook_active": CLOUD_HOOKS,
    "TestSetInactive::test_set_hook_inactive": CLOUD_HOOKS,
    "TestPrefectMessageCloudHook::test_prefect_message_cloud_hook": CLOUD_HOOKS,
} | {
    f"TestTestWebhook::{name}": CLOUD_HOOKS for name in (
        "test_testing_invalid_hook_returns_error", "test_test_hook", "test_test_hook_while_specifying_flow_run_id",
        "test_test_webhook_with_custom_state", "test_test_slack_cloud_hook",
        "test_test_slack_cloud_hook_while_specifying_flow_run_id", "test_test_prefect_message_webhook",
        "test_test_prefect_message_webhook_while_specifying_flow_run_id", "test_test_twilio_cloud_hook",
        "test_test_pagerduty_cloud_hook",
    )
})


@pytest.mark.parametrize("document", [
    'mutation { create_cloud_hook(input: {tenant_id: "%s", type: WEBHOOK, states: ["Failed"], '
    'config: {url: "https://example.com"}}) { id } }',
    'mutation { delete_cloud_hook(input: {cloud_hook_id: "%s"}) { success } }',
    'mutation { set_cloud_hook_active(input: {cloud_hook_id: "%s"}) { success } }',
    'mutation { set_cloud_hook_inactive(input: {cloud_hook_id: "%s"}) { success } }',
    'mutation { test_cloud_hook(input: {cloud_hook_id: "%s"}) { success } }',
    'query { cloud_hook(where: {id: {_eq: "%s"}}) { id } }',
])
def test_cloud_hook_operations_answer_not_supported(gql, tenant_id, document):
    name = document.split("{")[1].split("(")[0].strip()
    errors = gql.errors(document % tenant_id)
    assert errors[0]["message"].startswith(f"{name} is a Prefect Cloud feature, not supported by this backend")
    assert errors[0]["extensions"]["code"] == "NOT_SUPPORTED"
