"""Prefect Server's own GraphQL test cases (its tests/graphql/), expressed against this
backend over HTTP: the same mutations and queries, the same expected answers.

Cases of multi-tenant or Cloud-only features are kept as skipped tests naming why, so the
count of what is covered stays visible.
"""
import json
import uuid

import pendulum
import pytest
from prefect.engine.state import Failed, Retrying, Running, Success

from tests.server.support import GraphQL, ok_status, unique

UNSUPPORTED = "multi-tenant / Cloud-only: not supported by this backend"


def m(gql: GraphQL, name: str, input_type: str, input_: dict, fields: str = "success") -> dict:
    body = gql.post(f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {fields} }} }}", {"input": input_}).json()
    return body


def data(body: dict, name: str) -> dict:
    assert not body.get("errors"), body
    return body["data"][name]


def row(gql: GraphQL, table: str, id_: str, fields: str) -> dict:
    return gql.data("query($id: uuid!) { %s_by_pk(id: $id) { %s } }" % (table, fields), {"id": id_})[f"{table}_by_pk"]


@pytest.fixture
def project_id(gql: GraphQL, tenant_id: str) -> str:
    return data(m(gql, "create_project", "create_project_input", {"name": unique("p"), "tenant_id": tenant_id},
                  "id"), "create_project")["id"]


@pytest.fixture
def flow(make_flow):
    return make_flow(n_tasks=2)


# --- projects (tests/graphql/test_projects.py) -----------------------------------------------------

def test_create_project_and_duplicate_name_fails(gql, tenant_id):
    name = unique("p")
    assert data(m(gql, "create_project", "create_project_input", {"name": name, "tenant_id": tenant_id}, "id"),
                "create_project")["id"]
    body = m(gql, "create_project", "create_project_input", {"name": name, "tenant_id": tenant_id}, "id")
    assert body["errors"] and "Uniqueness" in body["errors"][0]["message"]


def test_set_project_name_and_description(gql, project_id):
    name = unique("renamed")
    assert data(m(gql, "set_project_name", "set_project_name_input", {"project_id": project_id, "name": name}, "id"),
                "set_project_name")["id"] == project_id
    m(gql, "set_project_description", "set_project_description_input", {"project_id": project_id, "description": "hi"}, "id")
    assert row(gql, "project", project_id, "name description") == {"name": name, "description": "hi"}


def test_delete_project_and_unknown_project(gql, project_id):
    assert data(m(gql, "delete_project", "delete_project_input", {"project_id": project_id}), "delete_project")["success"]
    assert row(gql, "project", project_id, "id") is None
    assert not data(m(gql, "delete_project", "delete_project_input", {"project_id": str(uuid.uuid4())}),
                    "delete_project")["success"]


def test_delete_project_cascades_to_flows_and_runs(gql, make_flow, project_id):
    name = row(gql, "project", project_id, "name")["name"]
    f = make_flow(project_name=name)
    run = gql.create_flow_run(flow_id=f.id)
    assert data(m(gql, "delete_project", "delete_project_input", {"project_id": project_id}), "delete_project")["success"]
    assert row(gql, "flow", f.id, "id") is None and row(gql, "flow_run", run, "id") is None
    assert gql.data('{ task(where: {flow_id: {_eq: "%s"}}) { id } }' % f.id)["task"] == []


# --- flows (tests/graphql/test_flows.py) -----------------------------------------------------------

def test_delete_flow_removes_runs_tasks_edges(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    assert data(m(gql, "delete_flow", "delete_flow_input", {"flow_id": flow.id}), "delete_flow")["success"]
    assert row(gql, "flow", flow.id, "id") is None and row(gql, "flow_run", run, "id") is None
    left = gql.data('{ task(where: {flow_id: {_eq: "%s"}}) { id } edge(where: {flow_id: {_eq: "%s"}}) { id } }'
                    % (flow.id, flow.id))
    assert left == {"task": [], "edge": []}
    assert row(gql, "flow_group", flow.flow_group_id, "id") is not None


def test_delete_nonexistent_flow_is_not_success(gql):
    assert not data(m(gql, "delete_flow", "delete_flow_input", {"flow_id": str(uuid.uuid4())}), "delete_flow")["success"]


def test_archive_flow_and_unknown_flow(gql, flow):
    assert data(m(gql, "archive_flow", "archive_flow_input", {"flow_id": flow.id}), "archive_flow")["success"]
    assert row(gql, "flow", flow.id, "archived")["archived"] is True
    assert data(m(gql, "archive_flow", "archive_flow_input", {"flow_id": str(uuid.uuid4())}), "archive_flow") == {
        "success": False}


def test_archive_flow_cancels_ad_hoc_scheduled_runs(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    m(gql, "archive_flow", "archive_flow_input", {"flow_id": flow.id})
    assert row(gql, "flow_run", run, "state")["state"] == "Cancelled"


def test_update_flow_project(gql, flow, project_id):
    assert data(m(gql, "update_flow_project", "update_flow_project_input", {"flow_id": flow.id, "project_id": project_id},
                  "id"), "update_flow_project")["id"] == flow.id
    assert row(gql, "flow", flow.id, "project_id")["project_id"] == project_id


def test_update_flow_project_to_unknown_project_fails(gql, flow):
    body = m(gql, "update_flow_project", "update_flow_project_input",
             {"flow_id": flow.id, "project_id": str(uuid.uuid4())}, "id")
    assert "Invalid flow or project ID" in body["errors"][0]["message"]


@pytest.mark.parametrize("mutation,key,value", [
    ("disable_flow_heartbeat", "heartbeat_enabled", False), ("enable_flow_heartbeat", "heartbeat_enabled", True),
    ("disable_flow_lazarus_process", "lazarus_enabled", False), ("enable_flow_lazarus_process", "lazarus_enabled", True),
])
def test_heartbeat_and_lazarus_settings(gql, flow, mutation, key, value):
    assert data(m(gql, mutation, f"{mutation}_input", {"flow_id": flow.id}), mutation)["success"]
    assert row(gql, "flow_group", flow.flow_group_id, "settings")["settings"][key] is value


def test_heartbeat_of_unknown_flow_is_an_error(gql):
    body = m(gql, "disable_flow_heartbeat", "disable_flow_heartbeat_input", {"flow_id": str(uuid.uuid4())})
    assert "Invalid flow ID" in body["errors"][0]["message"]


def test_set_schedule_active_without_schedule_is_false(gql, flow):
    assert not data(m(gql, "set_schedule_active", "set_schedule_active_input", {"flow_id": flow.id}),
                    "set_schedule_active")["success"]


# --- flow groups (tests/graphql/test_flow_groups.py) -----------------------------------------------

def test_set_flow_group_labels_and_clear_them(gql, flow):
    fg = flow.flow_group_id
    assert data(m(gql, "set_flow_group_labels", "set_flow_group_labels_input", {"flow_group_id": fg, "labels": ["a", "b", "a"]}),
                "set_flow_group_labels")["success"]
    assert sorted(row(gql, "flow_group", fg, "labels")["labels"]) == ["a", "b"]
    m(gql, "set_flow_group_labels", "set_flow_group_labels_input", {"flow_group_id": fg, "labels": None})
    assert row(gql, "flow_group", fg, "labels")["labels"] is None


def test_flow_group_setters_on_unknown_group_are_not_success(gql):
    fg = str(uuid.uuid4())
    for name, type_, extra in (("set_flow_group_labels", "set_flow_group_labels_input", {"labels": ["x"]}),
                               ("set_flow_group_description", "set_flow_group_description_input", {"description": "d"}),
                               ("set_flow_group_run_config", "set_flow_group_run_config_input", {"run_config": None}),
                               ("delete_flow_group_schedule", "delete_flow_group_schedule_input", {})):
        assert data(m(gql, name, type_, {"flow_group_id": fg, **extra}), name) == {"success": False}


def test_set_flow_group_default_parameters_used_by_new_runs(gql, make_flow):
    from prefect import Parameter

    f = make_flow(parameters=[Parameter("x", default=1)])
    m(gql, "set_flow_group_default_parameters", "set_flow_group_default_parameters_input",
      {"flow_group_id": f.flow_group_id, "parameters": {"x": 42}})
    run = gql.create_flow_run(flow_id=f.id)
    assert row(gql, "flow_run", run, "parameters")["parameters"] == {"x": 42}


def test_set_flow_group_run_config_and_description(gql, flow):
    fg = flow.flow_group_id
    config = {"type": "UniversalRun", "labels": ["rc"], "env": None, "__version__": "1.4.1"}
    m(gql, "set_flow_group_run_config", "set_flow_group_run_config_input", {"flow_group_id": fg, "run_config": config})
    m(gql, "set_flow_group_description", "set_flow_group_description_input", {"flow_group_id": fg, "description": "md"})
    assert row(gql, "flow_group", fg, "run_config description") == {"run_config": config, "description": "md"}


def test_set_flow_group_schedule_schedules_runs_and_delete_removes_them(gql, flow):
    fg = flow.flow_group_id
    assert data(m(gql, "set_flow_group_schedule", "set_flow_group_schedule_input",
                  {"flow_group_id": fg, "interval_clocks": [{"interval": 3600}], "cron_clocks": [{"cron": "0 * * * *"}]}),
                "set_flow_group_schedule")["success"]
    schedule = row(gql, "flow_group", fg, "schedule")["schedule"]
    assert [c["type"] for c in schedule["clocks"]] == ["CronClock", "IntervalClock"]
    assert schedule["clocks"][1]["interval"] == 3600 * 1_000_000
    m(gql, "set_schedule_active", "set_schedule_active_input", {"flow_id": flow.id})
    count = '{ flow_run_aggregate(where: {flow_group_id: {_eq: "%s"}, auto_scheduled: {_eq: true}}) { aggregate { count } } }' % fg
    assert gql.data(count)["flow_run_aggregate"]["aggregate"]["count"] > 0
    assert data(m(gql, "delete_flow_group_schedule", "delete_flow_group_schedule_input", {"flow_group_id": fg}),
                "delete_flow_group_schedule")["success"]
    assert gql.data(count)["flow_run_aggregate"]["aggregate"]["count"] == 0


@pytest.mark.parametrize("input_,message", [
    ({"cron_clocks": [{"cron": "not a cron"}]}, "Invalid clock"),
    ({"interval_clocks": [{"interval": 60}], "timezone": "Mars/Olympus"}, "Invalid timezone"),
])
def test_set_flow_group_schedule_refuses_bad_clocks(gql, flow, input_, message):
    body = m(gql, "set_flow_group_schedule", "set_flow_group_schedule_input", {"flow_group_id": flow.flow_group_id, **input_})
    assert message in body["errors"][0]["message"]


def test_delete_flow_group_deletes_its_flows(gql, flow):
    assert data(m(gql, "delete_flow_group", "delete_flow_group_input", {"flow_group_id": flow.flow_group_id}),
                "delete_flow_group")["success"]
    assert row(gql, "flow", flow.id, "id") is None


# --- runs (tests/graphql/test_runs.py) -------------------------------------------------------------

def test_set_flow_run_labels_and_to_empty(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    assert data(m(gql, "set_flow_run_labels", "set_flow_run_labels_input", {"flow_run_id": run, "labels": ["big", "boo"]}),
                "set_flow_run_labels")["success"]
    assert row(gql, "flow_run", run, "labels")["labels"] == ["big", "boo"]
    m(gql, "set_flow_run_labels", "set_flow_run_labels_input", {"flow_run_id": run, "labels": []})
    assert row(gql, "flow_run", run, "labels")["labels"] == []


def test_set_flow_run_name_and_task_run_name(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    m(gql, "set_flow_run_name", "set_flow_run_name_input", {"flow_run_id": run, "name": "hello"})
    task_run = gql.flow_run(run)["task_runs"][0]["id"]
    m(gql, "set_task_run_name", "set_task_run_name_input", {"task_run_id": task_run, "name": "hello"})
    assert row(gql, "flow_run", run, "name")["name"] == "hello" and row(gql, "task_run", task_run, "name")["name"] == "hello"


@pytest.fixture
def mapped(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    ok_status(gql.set_flow_run_state(run, Running()))
    parent = gql.flow_run(run)["task_runs"][0]
    children = [gql.data("mutation($i: get_or_create_task_run_info_input!) { get_or_create_task_run_info(input: $i) { id } }",
                         {"i": {"flow_run_id": run, "task_id": parent["task"]["id"], "map_index": i}})
                ["get_or_create_task_run_info"]["id"] for i in range(10)]
    for i, state in [(0, Success()), (1, Success()), (2, Success()), (3, Failed()), (4, Failed()),
                     (5, Retrying(start_time=pendulum.now("UTC").add(hours=1))), (6, Running()), (7, Running()), (8, Running())]:
        if not isinstance(state, Running):
            ok_status(gql.set_task_run_state(children[i], Running()))
        ok_status(gql.set_task_run_state(children[i], state))
    return parent["id"], children


MAPPED = "query($id: UUID!) { mapped_children(task_run_id: $id) { min_start_time max_end_time state_counts } }"


def test_query_mapped_children(gql, mapped):
    answer = gql.data(MAPPED, {"id": mapped[0]})["mapped_children"]
    assert answer["min_start_time"] is not None and answer["max_end_time"] is not None
    assert answer["state_counts"] == {"Success": 3, "Failed": 2, "Retrying": 1, "Running": 3, "Pending": 1}


@pytest.mark.parametrize("which", ["child", "unknown"])
def test_query_mapped_children_of_a_child_or_unknown_id_is_empty(gql, mapped, which):
    task_run = mapped[1][1] if which == "child" else str(uuid.uuid4())
    assert gql.data(MAPPED, {"id": task_run})["mapped_children"] == {
        "min_start_time": None, "max_end_time": None, "state_counts": {}}


def test_delete_flow_run(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    assert data(m(gql, "delete_flow_run", "delete_flow_run_input", {"flow_run_id": run}), "delete_flow_run")["success"]
    assert row(gql, "flow_run", run, "id") is None


def test_create_flow_run_with_idempotency_key_is_one_run(gql, flow):
    assert gql.create_flow_run(flow_id=flow.id, idempotency_key="k") == gql.create_flow_run(flow_id=flow.id, idempotency_key="k")


def test_create_flow_run_for_archived_flow_fails(gql, flow):
    m(gql, "archive_flow", "archive_flow_input", {"flow_id": flow.id})
    assert "archived" in gql.create_flow_run_errors(flow_id=flow.id)[0]["message"]


# --- queries (tests/graphql/test_query.py, test_api.py) --------------------------------------------

def test_hello_api_and_reference_data(gql):
    answer = gql.data("{ hello api { backend mode version core_version } reference_data { state_hierarchy state_info } }")
    assert answer["hello"] == "👋" and answer["api"]["backend"] == "SERVER" and answer["api"]["core_version"] == "1.4.1"
    assert "Failed" in answer["reference_data"]["state_hierarchy"]["Finished"]
    assert answer["reference_data"]["state_info"]["Success"]["color"].startswith("#")


def test_flow_group_queries_with_nested_aggregates(gql, flow):
    gql.create_flow_run(flow_id=flow.id)
    answer = gql.data('{ flow_group(where: {id: {_eq: "%s"}}) { id flows { id } flows_aggregate { aggregate { count } } } }'
                      % flow.flow_group_id)["flow_group"]
    assert answer == [{"id": flow.flow_group_id, "flows": [{"id": flow.id}], "flows_aggregate": {"aggregate": {"count": 1}}}]


# --- JSON and DateTime scalars (tests/graphql/test_scalars.py) --------------------------------------

@pytest.mark.parametrize("value", [1.0, 12345678901234567890123, -0.5, "text", None, [1, 2.5, {"a": True}]])
def test_json_round_trips_exactly(gql, flow, value):
    run = gql.create_flow_run(flow_id=flow.id)
    gql.data("mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
             {"input": {"logs": [{"flow_run_id": run, "message": "m", "info": value}]}})
    text = gql.post('{ log(where: {flow_run_id: {_eq: "%s"}}) { info } }' % run).text
    assert json.dumps(value) in text.replace(": ", ":").replace(":", ": ") or json.loads(text)["data"]["log"][0]["info"] == value
    assert json.dumps(json.loads(text)["data"]["log"][0]["info"]) == json.dumps(value)


@pytest.mark.parametrize("literal,expected", [('"1.0"', 1.0), ('"{\\"a\\": 2}"', {"a": 2}), ('"[1, \\"x\\"]"', [1, "x"]),
                                              ('"\\"s\\""', "s"), ("{a: 2}", {"a": 2}), ("3", 3)])
def test_json_string_literals_are_json_text_as_in_server(gql, flow, literal, expected):
    run = gql.create_flow_run(flow_id=flow.id)
    gql.data('mutation { write_run_logs(input: {logs: [{flow_run_id: "%s", message: "m", info: %s}]}) { success } }'
             % (run, literal))
    assert gql.data('{ log(where: {flow_run_id: {_eq: "%s"}}) { info } }' % run)["log"][0]["info"] == expected


def test_a_json_string_literal_that_is_not_json_is_refused(gql, flow):
    run = gql.create_flow_run(flow_id=flow.id)
    errors = gql.errors('mutation { write_run_logs(input: {logs: [{flow_run_id: "%s", info: "not json"}]}) { success } }' % run)
    assert "Invalid JSON value" in errors[0]["message"]


def test_datetime_keeps_the_instant_and_microseconds(gql, flow):
    sent = "2031-04-05T06:07:08.123456+02:00"
    run = gql.create_flow_run(flow_id=flow.id, scheduled_start_time=sent)
    got = row(gql, "flow_run", run, "scheduled_start_time")["scheduled_start_time"]
    assert pendulum.parse(got) == pendulum.parse(sent) and got.endswith("04:07:08.123456+00:00")


# --- multi-tenant and Cloud-only cases --------------------------------------------------------------

@pytest.mark.parametrize("case", [
    "test_tenants.py::create_tenant with a user and license", "test_tenants.py::update_tenant_settings",
    "test_projects.py::create_project in another user's tenant", "test_flows.py::flow concurrency limits",
    "test_secrets.py::set_secret", "test_kv.py::set_key_value", "test_cloud_hooks.py::create_cloud_hook",
    "test_task_tag_limits.py::update_task_tag_limit",
])
def test_multi_tenant_and_cloud_only_cases(case):
    pytest.skip(f"{case}: {UNSUPPORTED}")


@pytest.mark.parametrize("operation", ["set_secret", "set_key_value", "create_cloud_hook", "update_task_tag_limit"])
def test_cloud_only_operations_answer_a_clear_error(gql, operation):
    errors = gql.errors('mutation { %s(input: {x: 1}) { success } }' % operation)
    assert errors[0]["message"].startswith(f"{operation} is a Prefect Cloud feature, not supported by this backend")
    assert errors[0]["extensions"]["code"] == "NOT_SUPPORTED"


def test_the_readme_lists_exactly_the_unsupported_operations():
    import re
    from pathlib import Path

    from tasks_flowrun.server.graphql.unsupported import CLOUD_ONLY

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What it does, and what it leaves out")[1].split("\n## ")[0]
    listed = re.findall(r"`([a-z_]+)`", section.split("Not included:")[1])
    assert set(listed) - {"kv"} == set(CLOUD_ONLY)
