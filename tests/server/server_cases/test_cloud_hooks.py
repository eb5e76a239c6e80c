"""Prefect Server's tests/graphql/test_cloud_hooks.py, ported.

Where Server's cases create a hook through its Python API, these create it with the
`create_cloud_hook` mutation; where they mock its HTTP client, the hook sends its request to
a local HTTP server that records it (Twilio's and PagerDuty's addresses are aimed at it:
the backend of the session runs in this process). Run links start with the backend's own
address (Server's start with its `api.url`, `http://localhost:4200` by default; see
tests/server/test_hook_links.py for Prefect's `server.ui.endpoint`). Hooks are deleted after each test, and
the hooks only `test_cloud_hook` calls (which ignores their states and flows) are limited
to the test's flow, so that no other run of the session's shared backend triggers them.
"""
import time
from typing import Callable, Dict, Iterator, List

import pytest
from prefect.engine.state import Failed, Running, Submitted, Success

from tasks_flowrun.server.services import cloud_hook_delivery
from tests.server.server_cases.calls import count, mutate, ok, refused, row, rows
from tests.server.server_cases.hook_sink import HookSink, SilentPort, basic_auth, refused_url
from tests.server.support import GraphQL

STATE_TYPES = ["SUBMITTED", "SCHEDULED", "RUNNING", "SUCCESS", "FAILED"]


@pytest.fixture
def sink() -> Iterator[HookSink]:
    sink = HookSink()
    yield sink
    sink.close()


@pytest.fixture
def version_group_id(gql: GraphQL, flow_id: str) -> str:
    return row(gql, "flow", flow_id, "version_group_id")["version_group_id"]


@pytest.fixture
def create_hook(gql: GraphQL, tenant_id: str) -> Iterator[Callable[..., str]]:
    """`create_cloud_hook` for the test's tenant; the hooks (and all messages) are deleted afterwards."""
    created: List[str] = []

    def create(**input_) -> str:
        hook_id = ok(mutate(gql, "create_cloud_hook", {"tenant_id": tenant_id, **input_}, "id"), "create_cloud_hook")["id"]
        created.append(hook_id)
        return hook_id

    yield create
    for hook_id in created:
        mutate(gql, "delete_cloud_hook", {"cloud_hook_id": hook_id})
    delete_all_messages(gql)


def delete_all_messages(gql: GraphQL) -> None:
    for message in rows(gql, "message", {}, "id"):
        mutate(gql, "delete_message", {"message_id": message["id"]})


def send_test_event(gql: GraphQL, hook_id: str, **input_) -> Dict:
    """`test_cloud_hook`'s payload."""
    return ok(mutate(gql, "test_cloud_hook", {"cloud_hook_id": hook_id, **input_}, "success error"), "test_cloud_hook")


class TestCreateCloudHook:
    def test_create_hook(self, gql, tenant_id, create_hook):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"}, states=["FAILED"])
        hook = row(gql, "cloud_hook", hook_id, "tenant_id config version_group_id states name type")
        assert hook == {"tenant_id": tenant_id, "config": {"url": "test-url"}, "version_group_id": None,
                        "states": ["FAILED"], "name": None, "type": "WEBHOOK"}

    def test_create_slack_hook(self, gql, create_hook):
        hook_id = create_hook(type="SLACK_WEBHOOK", config={"url": "test-url"}, states=["FAILED"])
        assert row(gql, "cloud_hook", hook_id, "config type") == {"config": {"url": "test-url"}, "type": "SLACK_WEBHOOK"}

    def test_create_prefect_message_hook(self, gql, create_hook):
        hook_id = create_hook(type="PREFECT_MESSAGE", config={}, states=["FAILED"])
        assert row(gql, "cloud_hook", hook_id, "type")["type"] == "PREFECT_MESSAGE"

    def test_create_twilio_hook(self, gql, create_hook):
        config = {"account_sid": "test_sid", "auth_token": "test_auth_token",
                  "messaging_service_sid": "test_messaging_service_sid", "to": ["+15555555555"]}
        hook_id = create_hook(type="TWILIO", config=config, states=["FAILED"])
        assert row(gql, "cloud_hook", hook_id, "config type") == {"config": config, "type": "TWILIO"}

    def test_create_pagerduty_hook(self, gql, create_hook):
        config = {"api_token": "test_api_token", "routing_key": "test_routing_key", "severity": "info"}
        hook_id = create_hook(type="PAGERDUTY", config=config, states=["FAILED"])
        assert row(gql, "cloud_hook", hook_id, "config type") == {"config": config, "type": "PAGERDUTY"}

    def test_create_webhook_with_options(self, gql, create_hook, version_group_id):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"}, version_group_id=version_group_id,
                              states=["Running"], name="test-name")
        hook = row(gql, "cloud_hook", hook_id, "config version_group_id states name")
        assert hook == {"config": {"url": "test-url"}, "version_group_id": version_group_id,
                        "states": ["RUNNING"], "name": "test-name"}

    def test_create_webhook_with_case_insensitive_states(self, gql, create_hook):
        # Server's case only creates it; the stored state is checked here too
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"}, states=["RUNNING"])
        assert row(gql, "cloud_hook", hook_id, "states")["states"] == ["RUNNING"]

    def test_create_webhook_with_repeated_states(self, gql, create_hook):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"},
                              states=["RUNNING", "RUNNING", "Running", "Running", "Pending"])
        assert set(row(gql, "cloud_hook", hook_id, "states")["states"]) == {"RUNNING", "PENDING"}

    def test_webhook_with_invalid_states_fails(self, gql, tenant_id):
        body = mutate(gql, "create_cloud_hook", {"tenant_id": tenant_id, "type": "WEBHOOK", "config": {"url": "test-url"},
                                                 "states": ["Running", "xyz"], "name": "test-name"}, "id")
        assert "Invalid state" in refused(body, "create_cloud_hook")


class TestDeleteWebhook:
    def test_delete_hook(self, gql, create_hook):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"}, states=["FAILED"])
        assert ok(mutate(gql, "delete_cloud_hook", {"cloud_hook_id": hook_id}), "delete_cloud_hook")["success"]
        assert row(gql, "cloud_hook", hook_id, "id") is None


class TestSetCloudHookActive:
    def test_set_hook_active(self, gql, create_hook):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"}, states=["FAILED"])
        ok(mutate(gql, "set_cloud_hook_inactive", {"cloud_hook_id": hook_id}), "set_cloud_hook_inactive")
        ok(mutate(gql, "set_cloud_hook_active", {"cloud_hook_id": hook_id}), "set_cloud_hook_active")
        assert row(gql, "cloud_hook", hook_id, "active")["active"] is True


class TestSetInactive:
    def test_set_hook_inactive(self, gql, create_hook):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test-url"}, states=["FAILED"])
        ok(mutate(gql, "set_cloud_hook_inactive", {"cloud_hook_id": hook_id}), "set_cloud_hook_inactive")
        assert row(gql, "cloud_hook", hook_id, "active")["active"] is False


class TestTestWebhook:
    def test_testing_invalid_hook_returns_error(self, gql, create_hook, version_group_id):
        hook_id = create_hook(type="WEBHOOK", config={"url": "test.test"}, states=["FAILED"],
                              version_group_id=version_group_id)
        result = send_test_event(gql, hook_id)
        assert result["success"] is False
        assert "URL is missing" in result["error"]

    def test_test_hook(self, gql, create_hook, version_group_id, sink):
        hook_id = create_hook(type="WEBHOOK", config={"url": sink.url + "/hook"}, states=["FAILED"],
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id) == {"success": True, "error": None}
        call = sink.last()
        event = call["body"]["event"]
        assert event["type"] == "FlowRunStateChange"
        assert event["is_test_event"] is True
        assert event["state"]["state"] == "Success"
        assert event["id"] == call["headers"]["x-prefect-event-id"]

    def test_test_hook_while_specifying_flow_run_id(self, gql, create_hook, version_group_id, flow_run_id, sink):
        hook_id = create_hook(type="WEBHOOK", config={"url": sink.url + "/hook"}, states=["SUCCESS"],
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id, flow_run_id=flow_run_id)["success"] is True
        call = sink.last()
        event = call["body"]["event"]
        assert event["type"] == "FlowRunStateChange"
        assert event["flow_run"]["id"] == flow_run_id
        assert event["state"]["state"] == "Success"
        assert event["id"] == call["headers"]["x-prefect-event-id"]

    @pytest.mark.parametrize("state_type", STATE_TYPES)
    def test_test_webhook_with_custom_state(self, gql, create_hook, version_group_id, sink, state_type):
        hook_id = create_hook(type="WEBHOOK", config={"url": sink.url + "/hook"}, states=["FAILED"],
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id, state_type=state_type)["success"] is True
        event = sink.last()["body"]["event"]
        assert event["state"]["state"] == state_type.capitalize()
        assert event["state"]["serialized_state"]["message"] == f"Test {state_type.lower()} state"

    @pytest.mark.parametrize("state_type", STATE_TYPES)
    def test_test_slack_cloud_hook(self, gql, create_hook, version_group_id, sink, state_type):
        hook_id = create_hook(type="SLACK_WEBHOOK", config={"url": sink.url + "/hook"}, states=STATE_TYPES,
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id, state_type=state_type)["success"] is True
        blocks = sink.last()["body"]["blocks"]
        assert blocks[1]["text"]["text"] == f"*State:* `{state_type.title()}`"
        assert blocks[2]["text"]["text"] == f"*Message:* Test {state_type.lower()} state"

    def test_test_slack_cloud_hook_while_specifying_flow_run_id(self, gql, create_hook, version_group_id, flow_run_id,
                                                                sink):
        hook_id = create_hook(type="SLACK_WEBHOOK", config={"url": sink.url + "/hook"}, states=["SUCCESS"],
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id, flow_run_id=flow_run_id, state_type="SUCCESS")["success"] is True
        blocks = sink.last()["body"]["blocks"]
        assert blocks[1]["text"]["text"] == "*State:* `Success`"
        assert blocks[2]["text"]["text"] == "*Message:* Test success state"

    @pytest.mark.parametrize("state_type", STATE_TYPES)
    def test_test_prefect_message_webhook(self, gql, tenant_id, create_hook, version_group_id, flow_run_id,
                                          state_type):
        delete_all_messages(gql)
        hook_id = create_hook(type="PREFECT_MESSAGE", states=[state_type], config={},
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id, state_type=state_type)["success"] is True
        assert count(gql, "message", {"tenant_id": {"_eq": tenant_id}}) == 1

    @pytest.mark.parametrize("state_type", STATE_TYPES)
    def test_test_prefect_message_webhook_while_specifying_flow_run_id(self, gql, tenant_id, create_hook,
                                                                       version_group_id, flow_run_id, state_type):
        delete_all_messages(gql)
        hook_id = create_hook(type="PREFECT_MESSAGE", states=[state_type], config={},
                              version_group_id=version_group_id)
        assert send_test_event(gql, hook_id, flow_run_id=flow_run_id, state_type=state_type)["success"] is True
        assert count(gql, "message", {"tenant_id": {"_eq": tenant_id}}) == 1

    @pytest.mark.parametrize("state_type", STATE_TYPES)
    def test_test_twilio_cloud_hook(self, gql, tenant_id, create_hook, version_group_id, flow_id, flow_run_id,
                                    monkeypatch, sink, state_type):
        monkeypatch.setattr(cloud_hook_delivery, "TWILIO_API", sink.url + "/2010-04-01")
        hook_id = create_hook(type="TWILIO", states=[state_type], version_group_id=version_group_id, config={
            "account_sid": "test_sid", "auth_token": "test_auth_token",
            "messaging_service_sid": "test_messaging_service_sid", "to": ["+15555555555"]})
        assert send_test_event(gql, hook_id, flow_run_id=flow_run_id, state_type=state_type)["success"] is True
        slug = row(gql, "tenant", tenant_id, "slug")["slug"]
        flow = row(gql, "flow", flow_id, "name")
        flow_run = row(gql, "flow_run", flow_run_id, "id name")
        call = sink.last()
        assert call["path"] == "/2010-04-01/Accounts/test_sid/Messages.json"
        assert call["headers"]["authorization"] == basic_auth("test_sid", "test_auth_token")
        assert call["body"] == {
            "To": "+15555555555", "From": "test_messaging_service_sid",
            "Body": f"Run {flow_run['name']} of flow {flow['name']} entered a new state: {state_type.title()}. \n "
                    f"Link: {gql.url}/{slug}/flow-run/{flow_run['id']}",
        }

    @pytest.mark.parametrize("state_type", STATE_TYPES)
    def test_test_pagerduty_cloud_hook(self, gql, tenant_id, create_hook, version_group_id, flow_id, flow_run_id,
                                       monkeypatch, sink, state_type):
        monkeypatch.setattr(cloud_hook_delivery, "PAGERDUTY_EVENTS_URL", sink.url + "/v2/enqueue")
        hook_id = create_hook(type="PAGERDUTY", states=[state_type], version_group_id=version_group_id, config={
            "api_token": "test_api_token", "routing_key": "test_routing_key", "severity": "info"})
        assert send_test_event(gql, hook_id, flow_run_id=flow_run_id, state_type=state_type)["success"] is True
        slug = row(gql, "tenant", tenant_id, "slug")["slug"]
        flow = row(gql, "flow", flow_id, "name")
        flow_run = row(gql, "flow_run", flow_run_id, "id name")
        call = sink.last()
        assert call["path"] == "/v2/enqueue"
        assert call["headers"]["authorization"] == "Token token=test_api_token"
        msg = call["body"]
        payload = msg["payload"]
        assert msg["routing_key"] == "test_routing_key"
        assert payload["severity"] == "info"
        assert payload["custom_details"]["state"] == state_type.title()
        assert payload["custom_details"]["flow"] == flow["name"]
        link = f"{gql.url}/{slug}/flow-run/{flow_run['id']}"
        assert msg["links"] == [{"href": link, "text": f"Flow Run {flow_run['name']}"}]


class TestPrefectMessageCloudHook:
    @pytest.mark.parametrize("state", [Running(), Success(), Failed()])
    def test_prefect_message_cloud_hook(self, gql, tenant_id, create_hook, version_group_id, flow_run_id, state):
        delete_all_messages(gql)
        create_hook(type="PREFECT_MESSAGE", config={}, states=[type(state).__name__],
                    version_group_id=version_group_id)
        body = mutate(gql, "set_flow_run_states", {"states": [
            {"flow_run_id": flow_run_id, "version": 1, "state": state.serialize()}]}, "states { id status message }")
        assert ok(body, "set_flow_run_states")["states"][0]["status"] == "SUCCESS"
        # the hook runs in the background, after the state change committed
        deadline = time.monotonic() + 10
        while count(gql, "message", {"tenant_id": {"_eq": tenant_id}}) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and no second message follows
        assert count(gql, "message", {"tenant_id": {"_eq": tenant_id}}) == 1


# -- Beyond Server's own file: hooks really called when a run changes state ---------------


def _set_state(gql: GraphQL, flow_run_id: str, state) -> float:
    """Set a flow run's state; the seconds the mutation took."""
    started = time.monotonic()
    body = mutate(gql, "set_flow_run_states", {"states": [{"flow_run_id": flow_run_id, "state": state.serialize()}]},
                  "states { id status }")
    took = time.monotonic() - started
    assert ok(body, "set_flow_run_states")["states"][0]["status"] == "SUCCESS"
    return took


def test_a_webhook_is_posted_when_a_run_enters_a_state_it_names(gql, tenant_id, create_hook, version_group_id,
                                                                 flow_id, flow_run_id, sink):
    """Beyond Server's own file: the event a WEBHOOK receives when a run of its flow enters
    one of its states, and nothing for other states, inactive hooks or other flows."""
    create_hook(type="WEBHOOK", config={"url": sink.url + "/matching"}, states=["Running", "success"],
                version_group_id=version_group_id, name="matching")
    inactive = create_hook(type="WEBHOOK", config={"url": sink.url + "/inactive"}, states=["RUNNING"],
                           version_group_id=version_group_id)
    ok(mutate(gql, "set_cloud_hook_inactive", {"cloud_hook_id": inactive}), "set_cloud_hook_inactive")
    create_hook(type="WEBHOOK", config={"url": sink.url + "/other-flow"}, states=["RUNNING"],
                version_group_id=version_group_id + "-other")

    for state in (Submitted(), Running("going"), Success("done")):
        _set_state(gql, flow_run_id, state)
    calls = sink.wait_for(lambda r: r["path"] == "/matching", count=2)
    time.sleep(0.3)  # nothing else follows
    assert sorted(r["path"] for r in sink.requests) == ["/matching", "/matching"]
    events = sorted((c["body"]["event"] for c in calls), key=lambda e: e["state"]["version"])
    assert [e["state"]["state"] for e in events] == ["Running", "Success"]
    assert [e["state"]["serialized_state"]["message"] for e in events] == ["going", "done"]
    flow_run = row(gql, "flow_run", flow_run_id, "name version")
    for call, event in zip(calls, events):
        assert call["headers"]["x-prefect-event-id"] in {e["id"] for e in events}
        assert event["type"] == "FlowRunStateChange" and event["is_test_event"] is False
        assert event["flow_run"]["id"] == flow_run_id and event["flow_run"]["name"] == flow_run["name"]
        assert event["flow"]["id"] == flow_id and event["flow"]["name"] == "Test Flow"
        assert event["flow"]["version_group_id"] == version_group_id
        assert event["tenant"]["id"] == tenant_id
    assert events[-1]["state"]["version"] == flow_run["version"]


def test_a_state_change_that_rolls_back_calls_no_hook(gql, create_hook, version_group_id, flow_run_id, sink):
    """Beyond Server's own file: two states in one request, the second refused: neither is
    kept, and the hook named by the first is never called."""
    create_hook(type="WEBHOOK", config={"url": sink.url + "/hook"}, states=["RUNNING"],
                version_group_id=version_group_id)
    body = mutate(gql, "set_flow_run_states", {"states": [
        {"flow_run_id": flow_run_id, "state": Running().serialize()},
        {"flow_run_id": flow_run_id, "state": {"type": "NoSuchState"}},
    ]}, "states { id status }")
    refused(body, "set_flow_run_states")
    assert row(gql, "flow_run", flow_run_id, "state")["state"] == "Scheduled"
    time.sleep(0.5)
    assert sink.requests == []


def test_hanging_or_failing_hooks_never_slow_a_state_change(gql, create_hook, version_group_id, flow_run_id, sink):
    """Beyond Server's own file: hooks whose address never answers or refuses connections
    cost the state change nothing, and a good hook beside them is still called (each call
    has its own short timeout and thread)."""
    silent = SilentPort()
    try:
        for _ in range(6):
            create_hook(type="WEBHOOK", config={"url": silent.url}, states=["RUNNING", "SUCCESS"],
                        version_group_id=version_group_id)
        create_hook(type="SLACK_WEBHOOK", config={"url": refused_url()}, states=["RUNNING", "SUCCESS"],
                    version_group_id=version_group_id)
        create_hook(type="WEBHOOK", config={"url": sink.url + "/good"}, states=["RUNNING", "SUCCESS"],
                    version_group_id=version_group_id)
        took = [_set_state(gql, flow_run_id, Running()), _set_state(gql, flow_run_id, Success())]
        assert max(took) < 1.0, took  # the hooks' 2 s timeout is never waited for
        calls = sink.wait_for(lambda r: r["path"] == "/good", count=2, timeout=15)
        assert len(calls) == 2
    finally:
        silent.close()


def test_create_cloud_hook_refuses_configs_as_server_does(gql, tenant_id):
    """Beyond Server's own file: each type's config is checked, with Server's messages."""
    cases = [
        ("WEBHOOK", {}, "Invalid config; expected `url`"),
        ("SLACK_WEBHOOK", {"url": "x", "channel": "y"}, "Invalid config; expected `url`"),
        ("TWILIO", {"account_sid": "a", "auth_token": "b", "messaging_service_sid": "c", "to": []},
         "Invalid config; expected `account_sid`, `auth_token`, `messaging_service_sid`, and `to`"),
        ("PAGERDUTY", {"api_token": "a", "routing_key": "b"},
         "Invalid config; expected `api_token`, `routing_key`, & `severity`"),
        ("PAGERDUTY", {"api_token": "a", "routing_key": "b", "severity": "bad"},
         "Invalid config; severity must be one of {info, warning, error, critical}"),
    ]
    for type_, config, message in cases:
        body = mutate(gql, "create_cloud_hook", {"tenant_id": tenant_id, "type": type_, "config": config,
                                                 "states": ["FAILED"]}, "id")
        assert refused(body, "create_cloud_hook") == message
    body = mutate(gql, "create_cloud_hook", {"tenant_id": tenant_id, "type": "WEBHOOK", "config": {"url": "x"},
                                             "states": []}, "id")
    assert refused(body, "create_cloud_hook") == "Invalid states"


def test_unknown_hooks_are_not_success(gql):
    """Beyond Server's own file: delete, activate and deactivate answer false for an unknown
    hook; testing one answers Server's "Invalid ID"."""
    unknown = "00000000-0000-4000-8000-000000000000"
    for name in ("delete_cloud_hook", "set_cloud_hook_active", "set_cloud_hook_inactive"):
        assert ok(mutate(gql, name, {"cloud_hook_id": unknown}), name)["success"] is False
    assert send_test_event(gql, unknown) == {"success": False, "error": "Invalid ID"}
