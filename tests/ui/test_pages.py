"""The Prefect UI's pages against a backend holding a real fan-out (a parent, its mapped
create task, its children), each asserting the shape the UI reads."""
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator

import pendulum
import pytest
from prefect import Client
from prefect.backend import FlowRunView

from tasks_flowrun.demo.register import register_file
from tests.helpers import wait_until
from tests.ui.pages import UiClient, count, op

pytestmark = pytest.mark.e2e

FAN_OUT = Path(__file__).resolve().parents[2] / "examples" / "parent_flows" / "fan_out.py"
CHILDREN = 3
STATES = ("Success", "Failed", "Submitted", "Paused", "Running", "Cancelled")


@pytest.fixture(scope="module")
def fan_out(backend_env, agent) -> Iterator[Dict[str, Any]]:
    """A finished fan-out parent with CHILDREN children, and the ids the pages start from."""
    client = Client()
    project = f"ui-{uuid.uuid4().hex[:8]}"
    project_id = client.create_project(project)
    flows = register_file(client, FAN_OUT, project)
    batches = [{"batch": i, "size": 10, "seconds": 0.1} for i in range(CHILDREN)]
    run_id = client.create_flow_run(flow_id=flows["fan-out-parent"],
                                    parameters={"project": project, "batches": batches})
    wait_until(lambda: FlowRunView.from_flow_run_id(run_id).state.is_finished(), timeout=180, interval=0.5,
               what="the fan-out parent to finish")
    assert FlowRunView.from_flow_run_id(run_id).state.is_successful()
    yield {"client": client, "project": project, "project_id": project_id, "parent_flow_id": flows["fan-out-parent"],
           "child_flow_id": flows["fan-out-child"], "run_id": run_id}


@pytest.fixture
def ui(server) -> UiClient:
    return UiClient(server.url)


def _parent_tasks(ui: UiClient, flow_id: str) -> Dict[str, Dict[str, Any]]:
    data = ui.one("query ($flowId: uuid) { task(where: {flow_id: {_eq: $flowId}}) { id name slug mapped } }",
                  {"flowId": flow_id})
    return {t["slug"].rsplit("-", 1)[0]: t for t in data["task"]}


def test_app_start_api_tenant_and_notifications(ui: UiClient):
    api, tenants, unread, notes, marked = ui.batch(
        op("query Api { api { backend mode version core_version release_timestamp } }", name="Api"),
        op("query Tenants { tenant(order_by: {created: asc}) { id name slug settings } }"),
        op("query NotificationsCountUnread { message_aggregate(where: {read: {_eq: false}}) "
           "{ aggregate { count } } }"),
        op("query Notifications($where: message_bool_exp, $limit: Int, $orderBy: [message_order_by!]) { "
           "notifications: message(where: $where, limit: $limit, order_by: $orderBy) "
           "{ id content created read tenant_id text type updated } }",
           {"where": {"read": {"_eq": False}}, "limit": 15, "orderBy": [{"created": "desc"}]}),
        op("mutation ($input: mark_message_as_read_input!) { mark_message_as_read(input: $input) "
           "{ success error } }", {"input": {"message_id": str(uuid.uuid4())}}),
    )
    assert api["api"]["backend"] == "SERVER" and api["api"]["version"]
    assert tenants["tenant"][0]["slug"] == "default"
    assert count(unread, "message_aggregate") == 0
    assert notes["notifications"] == []
    assert marked["mark_message_as_read"]["success"] is False


def test_dashboard(ui: UiClient, fan_out):
    project_id = fan_out["project_id"]
    since = pendulum.now("UTC").subtract(days=1).isoformat()
    (projects, runs_count, upcoming, in_progress, failures, flow_failures, task_failures, timeline,
     heartbeat) = ui.batch(
        op("query Projects { project(order_by: {name: asc}) { id name } }"),
        op("query FlowRunsCount($projectIds: [uuid!], $heartbeat: timestamptz) { flow_run_aggregate(where: "
           "{flow: {project_id: {_in: $projectIds}}, updated: {_gte: $heartbeat}, state: {_neq: \"Scheduled\"}}) "
           "{ aggregate { count } } }", {"projectIds": [project_id], "heartbeat": since}),
        op("query UpcomingCount($projectId: uuid) { flow_run_aggregate(where: {flow: {project_id: "
           "{_eq: $projectId}}, state: {_eq: \"Scheduled\"}}) { aggregate { count } } }", {"projectId": project_id}),
        op("query InProgress($projectId: uuid) { flow_run(where: {flow: {project_id: {_eq: $projectId}}, "
           "state: {_in: [\"Running\", \"Submitted\", \"Cancelling\"]}}, order_by: {start_time: desc}) "
           "{ id name start_time state state_timestamp updated flow { id name flow_group_id } } }",
           {"projectId": project_id}),
        op("query FailureCount($heartbeat: timestamptz, $projectId: uuid) { flow_aggregate(where: {flow_runs: "
           "{state: {_eq: \"Failed\"}, updated: {_gte: $heartbeat}}, project_id: {_eq: $projectId}}) "
           "{ aggregate { count } } }", {"heartbeat": since, "projectId": project_id}),
        op("query FlowFailures($projectId: uuid, $heartbeat: timestamptz) { flow_run(where: {flow: {project_id: "
           "{_eq: $projectId}}, state: {_eq: \"Failed\"}, scheduled_start_time: {_gte: $heartbeat}}, "
           "distinct_on: flow_id, order_by: {flow_id: asc, scheduled_start_time: desc}) "
           "{ flow_id state_timestamp scheduled_start_time flow { id name flow_group_id } } }",
           {"projectId": project_id, "heartbeat": since}),
        op("query FailedTasks($heartbeat: timestamptz) { task_run(where: {state: {_eq: \"Failed\"}, "
           "updated: {_gte: $heartbeat}}, distinct_on: task_id) { id updated task { id name flow { name } } } }",
           {"heartbeat": since}),
        op("query Timeline($limit: Int, $project_id: uuid, $date: timestamptz) { flow_run(where: {flow: "
           "{project_id: {_eq: $project_id}}, state: {_neq: \"Scheduled\"}, scheduled_start_time: {_gte: $date}}, "
           "limit: $limit, order_by: {scheduled_start_time: desc}) "
           "{ id flow_id name start_time end_time scheduled_start_time state } }",
           {"limit": 50, "project_id": project_id, "date": since}),
        op("query Heartbeat($projectId: uuid, $timestamp: timestamptz, $state: String, "
           "$filterOutStates: [String!]) { flow_run(limit: 10, where: {flow: {project_id: {_eq: $projectId}}, "
           "state_timestamp: {_gte: $timestamp}, state: {_eq: $state, _nin: $filterOutStates}}, "
           "order_by: {updated: desc_nulls_last}) { id name state state_timestamp flow { id name } __typename } }",
           {"projectId": project_id, "timestamp": since, "filterOutStates": ["Scheduled"]}),
    )
    assert fan_out["project"] in [p["name"] for p in projects["project"]]
    assert count(runs_count, "flow_run_aggregate") == CHILDREN + 1
    assert count(upcoming, "flow_run_aggregate") == 0
    assert in_progress["flow_run"] == []
    assert count(failures, "flow_aggregate") == 0
    assert flow_failures["flow_run"] == [] and isinstance(task_failures["task_run"], list)
    assert len(timeline["flow_run"]) == CHILDREN + 1
    assert [r["scheduled_start_time"] for r in timeline["flow_run"]] == sorted(
        (r["scheduled_start_time"] for r in timeline["flow_run"]), reverse=True)
    # $state is not given: Hasura drops a comparison with null, so only _nin applies
    rows = heartbeat["flow_run"]
    assert len(rows) == CHILDREN + 1 and all(r["__typename"] == "flow_run" for r in rows)


def test_flow_page(ui: UiClient, fan_out):
    group = ui.one("query ($id: uuid!) { flow_by_pk(id: $id) { flow_group_id } }",
                   {"id": fan_out["child_flow_id"]})["flow_by_pk"]["flow_group_id"]
    aggregates = " ".join(
        f"{state}: flow_run_aggregate(where: {{flow: {{flow_group_id: {{_eq: $flow_group_id}}, id: {{_eq: $flow_id}}}}, "
        f"updated: {{_gte: $heartbeat}}, state: {{_eq: \"{state}\"}}}}) {{ aggregate {{ count }} }}" for state in STATES)
    flow, per_state, table, versions, tasks = ui.batch(
        op("query Flow($id: uuid!) { flow_group_by_pk(id: $id) { id labels created description name "
           "default_parameters schedule settings updated flows { id archived core_version created description "
           "run_config environment flow_group_id is_schedule_active name parameters schedule storage updated "
           "version version_group_id project { id name } } } }", {"id": group}, "Flow"),
        op("query FlowRuns($flow_group_id: uuid, $flow_id: uuid, $heartbeat: timestamptz) { " + aggregates + " }",
           {"flow_group_id": group, "heartbeat": pendulum.now("UTC").subtract(days=1).isoformat()}),
        op("query TableFlowRuns($name: String, $limit: Int, $offset: Int, $orderBy: [flow_run_order_by!], "
           "$flow_group_id: uuid, $state: [String!]) { flow_run(where: {flow: {flow_group_id: {_eq: $flow_group_id}},"
           " name: {_ilike: $name}, state: {_in: $state}}, order_by: $orderBy, limit: $limit, offset: $offset) "
           "{ id name start_time end_time scheduled_start_time state } }",
           {"flow_group_id": group, "name": "%child%", "limit": 10, "offset": 0,
            "orderBy": [{"scheduled_start_time": "desc_nulls_last"}]}),
        op("query VersionsCount($flow_group_id: uuid!, $search: Int) { flow_group_by_pk(id: $flow_group_id) "
           "{ id flows_aggregate(where: {version: {_eq: $search}}) { aggregate { count } } } }",
           {"flow_group_id": group}),
        op("query TableTasks($flowId: uuid, $name: String, $orderBy: [task_order_by!]) { task(where: {flow_id: "
           "{_eq: $flowId}, name: {_ilike: $name}}, order_by: $orderBy, limit: 10) "
           "{ id name max_retries retry_delay type trigger } }",
           {"flowId": fan_out["child_flow_id"], "name": "%CRUNCH%", "orderBy": {"name": "asc"}}),
    )
    group_row = flow["flow_group_by_pk"]
    assert group_row["id"] == group and isinstance(group_row["name"], str)
    assert [(f["id"], f["name"]) for f in group_row["flows"]] == [(fan_out["child_flow_id"], "fan-out-child")]
    assert group_row["flows"][0]["project"]["name"] == fan_out["project"]
    assert {state: per_state[state]["aggregate"]["count"] for state in STATES} == {
        **{state: 0 for state in STATES}, "Success": CHILDREN}
    assert len(table["flow_run"]) == CHILDREN and all(r["state"] == "Success" for r in table["flow_run"])
    assert count(versions["flow_group_by_pk"], "flows_aggregate") == 1
    assert [t["name"] for t in tasks["task"]] == ["crunch"]


def test_flow_run_page(ui: UiClient, fan_out):
    run_id = fan_out["run_id"]
    tasks = _parent_tasks(ui, fan_out["parent_flow_id"])
    create = tasks["create_flow_run"]
    mapped_parent = ui.one("query ($run: uuid, $task: uuid) { task_run(where: {flow_run_id: {_eq: $run}, "
                           "task_id: {_eq: $task}, map_index: {_eq: -1}}) { id } }",
                           {"run": run_id, "task": create["id"]})["task_run"][0]["id"]
    run, gantt, states_count, states, task_counts, mapped, ids = ui.batch(
        op("query FlowRun($id: uuid!) { flow_run_by_pk(id: $id) { id name version labels auto_scheduled "
           "context end_time flow_id parameters scheduled_start_time start_time state state_message "
           "state_timestamp run_config agent_id states { id state timestamp start_time } flow { id name version "
           "version_group_id core_version parameters archived flow_group_id project { id name } } } }",
           {"id": run_id}, "FlowRun"),
        op("query GanttChart($id: uuid!, $taskRunStates: [String!], $taskName: String, $sort: order_by, "
           "$limit: Int, $offset: Int) { flow_run_by_pk(id: $id) { id state "
           "task_run_states: task_runs(distinct_on: state) { state } "
           "task_runs_aggregate(where: {state: {_in: $taskRunStates}, task: {name: {_ilike: $taskName}, "
           "auto_generated: {_eq: false}}}) { aggregate { count } } "
           "task_runs(order_by: {start_time: $sort}, where: {state: {_in: $taskRunStates}, task: {name: "
           "{_ilike: $taskName}, auto_generated: {_eq: false}}}, limit: $limit, offset: $offset) { id state "
           "state_message state_result state_timestamp start_time end_time map_index version name "
           "task { id name auto_generated max_retries retry_delay } } } }",
           {"id": run_id, "taskName": "%", "sort": "asc_nulls_last", "limit": 50, "offset": 0}),
        op("query StatesCount($where: flow_run_state_bool_exp) { flow_run_state_aggregate(where: $where) "
           "{ aggregate { count } } }", {"where": {"flow_run_id": {"_eq": run_id}}}),
        op("query FlowRunStates($where: flow_run_state_bool_exp, $limit: Int!, $offset: Int!, "
           "$orderBy: [flow_run_state_order_by!]) { flow_run_state(where: $where, limit: $limit, offset: $offset, "
           "order_by: $orderBy) { id state start_time timestamp result message } }",
           {"where": {"flow_run_id": {"_eq": run_id}}, "limit": 20, "offset": 0, "orderBy": [{"timestamp": "asc"}]}),
        op("query TaskRunCounts($where: task_run_bool_exp) { task_run_aggregate(where: $where) "
           "{ aggregate { count } } }", {"where": {"flow_run_id": {"_eq": run_id}, "state": {"_eq": "Success"}}}),
        op("query MappedChildren($taskRunId: UUID!) { mapped_children(task_run_id: $taskRunId) "
           "{ min_start_time max_end_time state_counts } }", {"taskRunId": mapped_parent}),
        op("query TaskRunIds($flowRunId: uuid!, $parentMapIndex: Int, $childMapIndex: Int) { task_run(where: "
           "{_and: [{flow_run_id: {_eq: $flowRunId}}, {map_index: {_eq: $parentMapIndex}}, "
           "{map_index: {_gte: $childMapIndex}}]}) { id version map_index } }",
           {"flowRunId": run_id, "childMapIndex": 0}),
    )
    row = run["flow_run_by_pk"]
    assert row["id"] == run_id and row["state"] == "Success" and row["flow"]["name"] == "fan-out-parent"
    assert [s["state"] for s in row["states"]][-1] == "Success"
    # one row per state (the mapped create task's parent run is Mapped)
    assert sorted(r["state"] for r in gantt["flow_run_by_pk"]["task_run_states"]) == ["Mapped", "Success"]
    rows = gantt["flow_run_by_pk"]["task_runs"]
    assert count(gantt["flow_run_by_pk"], "task_runs_aggregate") == len(rows) >= CHILDREN + 3
    assert sorted(r["map_index"] for r in rows if r["task"]["id"] == create["id"]) == [-1, *range(CHILDREN)]
    assert count(states_count, "flow_run_state_aggregate") == len(states["flow_run_state"]) >= 4
    assert [s["state"] for s in states["flow_run_state"]][-1] == "Success"
    assert count(task_counts, "task_run_aggregate") == len(rows) - 1  # all but the Mapped one
    children = mapped["mapped_children"]
    assert children["state_counts"] == {"Success": CHILDREN}
    assert children["min_start_time"] <= children["max_end_time"]
    assert sorted(r["map_index"] for r in ids["task_run"]) == sorted(
        r["map_index"] for r in rows if r["map_index"] >= 0)


def test_logs(ui: UiClient, fan_out):
    run_id = fan_out["run_id"]
    wait_until(lambda: ui.one("query ($id: uuid!) { flow_run_by_pk(id: $id) { logs(where: {message: "
                              "{_ilike: \"%grand total%\"}}) { id } } }", {"id": run_id})["flow_run_by_pk"]["logs"],
               timeout=30, interval=0.5, what="the parent's report log line")
    document = ("query FlowRunLogs($id: uuid!, $logId: uuid, $levels: [String!], $limit: Int = 100, "
                "$offset: Int = 0, $searchText: String, $timestampFrom: timestamptz, $timestampTo: timestamptz) { "
                "flow_run_by_pk(id: $id) { id state start_time logs(limit: $limit, offset: $offset, order_by: "
                "{timestamp: desc}, where: {id: {_eq: $logId}, level: {_in: $levels}, message: {_ilike: $searchText},"
                " timestamp: {_gte: $timestampFrom, _lte: $timestampTo}}) { id flow_run_id level message name "
                "task_run_id timestamp } } }")
    everything, searched, scoping = ui.batch(
        op(document, {"id": run_id}, "FlowRunLogs"),
        op(document, {"id": run_id, "levels": ["INFO"], "searchText": "%GRAND TOTAL%"}, "FlowRunLogs"),
        op("query Scoping($id: uuid!, $limit: Int = 50, $timestamp: timestamptz) { flow_run_by_pk(id: $id) { id "
           "logs_after: logs(where: {timestamp: {_gte: $timestamp}}, order_by: {timestamp: asc}, limit: $limit) "
           "{ timestamp } logs_before: logs(where: {timestamp: {_lte: $timestamp}}, order_by: {timestamp: desc}, "
           "limit: $limit) { timestamp } } }", {"id": run_id, "timestamp": pendulum.now("UTC").isoformat()}),
    )
    logs = everything["flow_run_by_pk"]["logs"]
    assert logs and all(log["flow_run_id"] == run_id for log in logs)
    assert [log["timestamp"] for log in logs] == sorted((log["timestamp"] for log in logs), reverse=True)
    found = searched["flow_run_by_pk"]["logs"]
    assert len(found) == 1 and f"{CHILDREN} children, grand total" in found[0]["message"]
    assert found[0]["level"] == "INFO"
    assert scoping["flow_run_by_pk"]["logs_after"] == []
    assert len(scoping["flow_run_by_pk"]["logs_before"]) == min(len(logs), 50)


def test_task_run_page(ui: UiClient, fan_out):
    run_id = fan_out["run_id"]
    tasks = _parent_tasks(ui, fan_out["parent_flow_id"])
    create, wait, report = tasks["create_flow_run"], tasks["wait_for_flow_run"], tasks["report"]
    report_run = ui.one("query ($run: uuid, $task: uuid) { task_run(where: {flow_run_id: {_eq: $run}, task_id: "
                        "{_eq: $task}}) { id } }", {"run": run_id, "task": report["id"]})["task_run"][0]["id"]
    task_run, mapped, states, downstream, artifacts, logs = ui.batch(
        op("query TaskRun($id: uuid!) { task_run_by_pk(id: $id) { id version state state_message state_timestamp "
           "updated start_time end_time map_index serialized_state name task { id name retry_delay max_retries "
           "trigger type upstream_edges { upstream_task { id name } downstream_task { id name } } "
           "downstream_edges { upstream_task { id name } downstream_task { id name } } } "
           "flow_run { id name state parameters version flow { id flow_group_id name project { id name } } } } }",
           {"id": report_run}, "TaskRun"),
        op("query TableMappedTaskRuns($where: task_run_bool_exp!, $limit: Int, $offset: Int, "
           "$orderBy: [task_run_order_by!]) { task_run(where: $where, order_by: $orderBy, limit: $limit, "
           "offset: $offset) { id name map_index start_time end_time state } }",
           {"where": {"flow_run_id": {"_eq": run_id}, "task_id": {"_eq": create["id"]}, "map_index": {"_neq": -1}},
            "limit": 10, "offset": 0, "orderBy": [{"map_index": "asc"}]}),
        op("query TaskRunStates($where: task_run_state_bool_exp, $limit: Int!, $offset: Int!, "
           "$orderBy: [task_run_state_order_by!]) { task_run_state(where: $where, limit: $limit, offset: $offset, "
           "order_by: $orderBy) { id state start_time timestamp result message } }",
           {"where": {"task_run_id": {"_eq": report_run}}, "limit": 10, "offset": 0,
            "orderBy": [{"timestamp": "asc"}]}),
        op("query Downstream($flowRunId: uuid, $taskIds: _uuid) { utility_downstream_tasks(args: "
           "{start_task_ids: $taskIds}) { task_id depth task { task_runs(where: {flow_run_id: {_eq: $flowRunId}}) "
           "{ id map_index version } } } }", {"flowRunId": run_id, "taskIds": "{%s}" % create["id"]}),
        op("query Artifacts($taskRunIds: [uuid!]) { task_run_artifact(where: {task_run_id: {_in: $taskRunIds}}) "
           "{ id created data kind task_run { id name state task { id name } } } }", {"taskRunIds": [report_run]}),
        op("query TaskRunLogs($id: uuid!, $levels: [String!], $searchText: String) { task_run_by_pk(id: $id) "
           "{ id flow_run_id start_time state logs(limit: 100, order_by: {timestamp: desc}, where: {level: "
           "{_in: $levels}, message: {_ilike: $searchText}}) { id level message name timestamp } } }",
           {"id": report_run, "searchText": "%grand total%"}),
    )
    row = task_run["task_run_by_pk"]
    assert row["state"] == "Success" and row["task"]["name"] == "report" and row["flow_run"]["id"] == run_id
    assert [e["upstream_task"]["id"] for e in row["task"]["upstream_edges"]] == [wait["id"]]
    assert row["task"]["downstream_edges"] == []
    assert [r["map_index"] for r in mapped["task_run"]] == list(range(CHILDREN))
    assert [s["state"] for s in states["task_run_state"]][-1] == "Success"
    depths = {r["task_id"]: r["depth"] for r in downstream["utility_downstream_tasks"]}
    assert depths[create["id"]] == 0 and depths[wait["id"]] == 1 and depths[report["id"]] == 2
    by_task = {r["task_id"]: r["task"]["task_runs"] for r in downstream["utility_downstream_tasks"]}
    assert len(by_task[create["id"]]) == CHILDREN + 1 and len(by_task[report["id"]]) == 1
    assert artifacts["task_run_artifact"] == []
    assert len(logs["task_run_by_pk"]["logs"]) == 1


def test_project_page(ui: UiClient, fan_out):
    project_id = fan_out["project_id"]
    project, flows_count, flows = ui.batch(
        op("query Project($id: uuid!) { project_by_pk(id: $id) { id name created } }", {"id": project_id}),
        op("query FlowAggregate($where: flow_bool_exp) { flow_aggregate(where: $where) { aggregate { count } } }",
           {"where": {"project_id": {"_eq": project_id}, "archived": {"_eq": False}}}),
        op("query ProjectFlows($limit: Int!, $offset: Int!, $orderBy: [flow_order_by!], $where: flow_bool_exp) { "
           "flow(where: $where, limit: $limit, offset: $offset, order_by: $orderBy) { id name version "
           "flow_runs(where: {start_time: {_is_null: false}}, order_by: {start_time: desc}, limit: 1) "
           "{ id state start_time } } }",
           {"limit": 10, "offset": 0, "orderBy": [{"name": "asc"}], "where": {"project_id": {"_eq": project_id}}}),
    )
    assert project["project_by_pk"]["name"] == fan_out["project"]
    assert count(flows_count, "flow_aggregate") == 2
    assert [f["name"] for f in flows["flow"]] == ["fan-out-child", "fan-out-parent"]
    assert all(len(f["flow_runs"]) == 1 and f["flow_runs"][0]["state"] == "Success" for f in flows["flow"])


def test_the_ui_reading_a_running_run_is_no_sign_of_life(server, ui: UiClient, fan_out):
    from prefect.engine.state import Running

    client = fan_out["client"]
    run_id = client.create_flow_run(flow_id=fan_out["child_flow_id"], labels=["no-agent-has-this-label"])
    client.set_flow_run_state(run_id, Running())
    polls = server.app.state.polls
    ui.one("query ($id: uuid!) { flow_run_by_pk(id: $id) { id state } }", {"id": run_id})
    assert polls.last(run_id) is None
    client.get_flow_run_info(run_id)  # the flow runner's own poll still counts
    assert polls.last(run_id) is not None
    client.cancel_flow_run(run_id)
