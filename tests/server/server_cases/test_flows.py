"""Prefect Server's tests/graphql/test_flows.py, over HTTP: registration (create_flow, tasks and
edges registered separately, compressed flows, version groups, archiving of old versions,
schedules), delete, archive, moving a flow to another project, heartbeat and Lazarus
settings, schedule on/off."""
import uuid

import prefect
from prefect.utilities.graphql import compress

from tests.server.server_cases.calls import count, create_flow, error, mutate, ok, refused, row, rows


def flow_row(gql, flow_id, fields):
    return row(gql, "flow", flow_id, fields)


def task_names(gql, flow_id):
    return sorted(t["name"] for t in rows(gql, "task", {"flow_id": {"_eq": flow_id}}, "name"))


def simple(name="test"):
    return prefect.Flow(name=name).serialize(build=False)


# --- TestCreateFlow ---------------------------------------------------------------------------------

def test_create_flow(gql, project_id):
    serialized = prefect.Flow(name="test", tasks=[prefect.Task(), prefect.Task()]).serialize(build=False)
    flow_id = create_flow(gql, project_id, serialized)
    assert flow_row(gql, flow_id, "project_id name")["project_id"] == project_id
    assert task_names(gql, flow_id) == ["Task", "Task"]


def test_create_flow_and_register_tasks_separately(gql, project_id):
    serialized = prefect.Flow(name="test", tasks=[prefect.Task(), prefect.Task()]).serialize(build=False)
    tasks = serialized.pop("tasks")
    flow_id = create_flow(gql, project_id, serialized)
    assert task_names(gql, flow_id) == []

    body = mutate(gql, "register_tasks", {"serialized_tasks": tasks, "flow_id": flow_id})
    assert ok(body, "register_tasks")["success"] is True
    assert task_names(gql, flow_id) == ["Task", "Task"]


def _two_edges_flow():
    with prefect.Flow(name="test") as flow:
        prefect.Task().set_upstream(prefect.Task())
        prefect.Task().set_upstream(prefect.Task())
    serialized = flow.serialize()
    return serialized, serialized.pop("tasks"), serialized.pop("edges")


def test_create_flow_and_register_edges_separately(gql, project_id):
    serialized, tasks, edges = _two_edges_flow()
    flow_id = create_flow(gql, project_id, serialized)
    assert task_names(gql, flow_id) == []
    assert count(gql, "edge", {"flow_id": {"_eq": flow_id}}) == 0

    # the tasks first, then the edges between them
    assert ok(mutate(gql, "register_tasks", {"serialized_tasks": tasks, "flow_id": flow_id}), "register_tasks")["success"]
    body = mutate(gql, "register_edges", {"serialized_edges": edges, "flow_id": flow_id})
    assert ok(body, "register_edges")["success"] is True
    assert task_names(gql, flow_id) == ["Task"] * 4
    assert count(gql, "edge", {"flow_id": {"_eq": flow_id}}) == 2


def test_register_edges_provides_helpful_error(gql, project_id):
    serialized, _tasks, edges = _two_edges_flow()
    flow_id = create_flow(gql, project_id, serialized)
    body = mutate(gql, "register_edges", {"serialized_edges": edges, "flow_id": flow_id})
    assert "reference tasks that do not exist" in error(body)
    assert count(gql, "edge", {"flow_id": {"_eq": flow_id}}) == 0


def test_create_compressed_flow(gql, project_id):
    body = mutate(gql, "create_flow_from_compressed_string",
                  {"serialized_flow": compress(simple()), "project_id": project_id}, "id")
    flow_id = ok(body, "create_flow_from_compressed_string")["id"]
    assert flow_row(gql, flow_id, "project_id name") == {"project_id": project_id, "name": "test"}


def test_create_compressed_flow_with_invalid_string(gql, project_id):
    body = mutate(gql, "create_flow_from_compressed_string", {"serialized_flow": "42", "project_id": project_id}, "id")
    assert "Unable to decompress" in error(body)
    assert rows(gql, "flow", {"project_id": {"_eq": project_id}}, "id") == []


def test_create_flow_with_version_group(gql, project_id):
    version_group_id = f"hello-{uuid.uuid4().hex}"  # Server's test says "hello": unique across the session here
    flow_id = create_flow(gql, project_id, simple(), version_group_id=version_group_id)
    assert flow_row(gql, flow_id, "version_group_id")["version_group_id"] == version_group_id


def test_create_flow_respects_core_version(gql, project_id):
    serialized = simple()
    serialized["__version__"] = "0.7.0+g5892"
    flow_id = create_flow(gql, project_id, serialized)
    assert flow_row(gql, flow_id, "core_version")["core_version"] == "0.7.0+g5892"


def test_create_flow_with_description(gql, project_id):
    flow_id = create_flow(gql, project_id, simple(), description="test")
    assert flow_row(gql, flow_id, "description")["description"] == "test"


def test_create_flow_with_idempotency_key(gql, project_id):
    flow_id = create_flow(gql, project_id, simple(), idempotency_key="test")
    assert flow_row(gql, flow_id, "flow_group { settings }")["flow_group"]["settings"]["idempotency_key"] == "test"


def test_create_flow_autodetects_version_group(gql, project_id, project_id_2):
    flow_1 = create_flow(gql, project_id, simple("test"))
    flow_2 = create_flow(gql, project_id, simple("test"))
    flow_3 = create_flow(gql, project_id, simple("test-different"))  # different name
    flow_4 = create_flow(gql, project_id_2, simple("test"))  # different project
    group = {f: flow_row(gql, f, "version_group_id")["version_group_id"] for f in (flow_1, flow_2, flow_3, flow_4)}
    assert group[flow_1] == group[flow_2]
    assert group[flow_1] != group[flow_3]
    assert group[flow_1] != group[flow_4]


def test_old_versions_are_automatically_archived(gql, project_id, project_id_2):
    flow_1 = create_flow(gql, project_id, simple())
    flow_2 = create_flow(gql, project_id, simple())
    assert flow_row(gql, flow_1, "archived")["archived"] is True
    assert flow_row(gql, flow_2, "archived")["archived"] is False

    # a new version in the same version group, registered into another project
    version_group_id = flow_row(gql, flow_1, "version_group_id")["version_group_id"]
    flow_3 = create_flow(gql, project_id_2, simple(), version_group_id=version_group_id)
    assert [flow_row(gql, f, "archived")["archived"] for f in (flow_1, flow_2, flow_3)] == [True, True, False]


def _scheduled(name="test"):
    return prefect.Flow(name=name, schedule=prefect.schedules.CronSchedule("0 0 * * *")).serialize(build=False)


def test_schedule_is_activated(gql, project_id):
    flow_id = create_flow(gql, project_id, _scheduled())
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is True


def test_schedule_is_not_activated_if_param_passed(gql, project_id):
    flow_id = create_flow(gql, project_id, _scheduled(), set_schedule_active=False)
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is False
    assert count(gql, "flow_run", {"flow_id": {"_eq": flow_id}}) == 0


def test_create_flow_allows_setting_version_group_explicitly(gql, project_id):
    version_group_id = str(uuid.uuid4())
    flow_1 = create_flow(gql, project_id, simple("test"), version_group_id=version_group_id)
    flow_2 = create_flow(gql, project_id, simple("test-different"), version_group_id=version_group_id)
    assert flow_row(gql, flow_1, "version_group_id archived") == {"version_group_id": version_group_id, "archived": True}
    assert flow_row(gql, flow_2, "version_group_id archived") == {"version_group_id": version_group_id,
                                                                  "archived": False}


# --- TestDeleteFlow ---------------------------------------------------------------------------------

def test_delete_flow(gql, flow_id, flow_group_id):
    run_id = gql.create_flow_run(flow_id=flow_id)
    assert ok(mutate(gql, "delete_flow", {"flow_id": flow_id}), "delete_flow")["success"] is True
    assert flow_row(gql, flow_id, "id") is None
    # its runs, tasks and edges go with it; its flow group stays
    assert row(gql, "flow_run", run_id, "id") is None
    assert rows(gql, "task", {"flow_id": {"_eq": flow_id}}, "id") == []
    assert rows(gql, "edge", {"flow_id": {"_eq": flow_id}}, "id") == []
    assert rows(gql, "task_run", {"flow_run_id": {"_eq": run_id}}, "id") == []
    assert row(gql, "flow_group", flow_group_id, "id") is not None


def test_delete_nonexistent_flow_is_not_success(gql):
    """Beyond Server's own file: Server's delete_flow answers false for an unknown id."""
    assert ok(mutate(gql, "delete_flow", {"flow_id": str(uuid.uuid4())}), "delete_flow")["success"] is False


# --- TestArchiveFlow --------------------------------------------------------------------------------

def test_archive_flow(gql, flow_id):
    assert flow_row(gql, flow_id, "archived")["archived"] is False
    assert ok(mutate(gql, "archive_flow", {"flow_id": flow_id}), "archive_flow")["success"] is True
    assert flow_row(gql, flow_id, "archived")["archived"] is True


def test_archive_nonexistent_flow(gql):
    assert ok(mutate(gql, "archive_flow", {"flow_id": str(uuid.uuid4())}), "archive_flow")["success"] is False


def test_archive_flow_with_none_flow_id(gql):
    message = error(mutate(gql, "archive_flow", {"flow_id": None}))
    assert "got invalid value None at 'input.flow_id'" in message and "non-nullable type" in message


# --- TestUpdateFlowProject --------------------------------------------------------------------------

def test_update_flow_project(gql, flow_id, project_id, project_id_2):
    assert flow_row(gql, flow_id, "project_id")["project_id"] == project_id
    body = mutate(gql, "update_flow_project", {"flow_id": flow_id, "project_id": project_id_2}, "id")
    assert ok(body, "update_flow_project")["id"] == flow_id
    assert flow_row(gql, flow_id, "project_id")["project_id"] == project_id_2


def test_update_flow_project_fails_with_invalid_project_id(gql, flow_id, project_id):
    body = mutate(gql, "update_flow_project", {"flow_id": flow_id, "project_id": str(uuid.uuid4())}, "id")
    assert "Invalid flow or project ID" in error(body)
    assert flow_row(gql, flow_id, "project_id")["project_id"] == project_id


def test_update_flow_project_fails_with_none_project_id(gql, flow_id, project_id):
    body = mutate(gql, "update_flow_project", {"flow_id": flow_id, "project_id": None}, "id")
    assert "Variable '$input' got invalid value" in error(body)
    assert flow_row(gql, flow_id, "project_id")["project_id"] == project_id


# --- TestUpdateFlowHeartbeat, TestUpdateFlowLazarus ---------------------------------------------------

def settings(gql, flow_group_id):
    return row(gql, "flow_group", flow_group_id, "settings")["settings"]


def _toggle(gql, mutation, flow_id):
    assert ok(mutate(gql, mutation, {"flow_id": flow_id}), mutation)["success"] is True


def test_enable_flow_heartbeat(gql, flow_id, flow_group_id):
    _toggle(gql, "disable_flow_heartbeat", flow_id)
    before = settings(gql, flow_group_id)
    assert before["heartbeat_enabled"] is False
    _toggle(gql, "enable_flow_heartbeat", flow_id)
    assert settings(gql, flow_group_id) == {**before, "heartbeat_enabled": True, "disable_heartbeat": False}


def test_disable_flow_heartbeat(gql, flow_id, flow_group_id):
    _toggle(gql, "enable_flow_heartbeat", flow_id)
    before = settings(gql, flow_group_id)
    assert before["heartbeat_enabled"] is True
    _toggle(gql, "disable_flow_heartbeat", flow_id)
    assert settings(gql, flow_group_id) == {**before, "heartbeat_enabled": False, "disable_heartbeat": True}


def test_disable_flow_heartbeat__where_flow_id_none(gql):
    assert "got invalid value None at 'input.flow_id'" in error(mutate(gql, "disable_flow_heartbeat", {"flow_id": None}))


def test_enable_flow_heartbeat_where_flow_id_none(gql):
    assert "got invalid value None at 'input.flow_id'" in error(mutate(gql, "enable_flow_heartbeat", {"flow_id": None}))


def test_enable_flow_lazarus_process(gql, flow_id, flow_group_id):
    _toggle(gql, "disable_flow_lazarus_process", flow_id)
    before = settings(gql, flow_group_id)
    assert before["lazarus_enabled"] is False
    _toggle(gql, "enable_flow_lazarus_process", flow_id)
    assert settings(gql, flow_group_id) == {**before, "lazarus_enabled": True}


def test_disable_flow_lazarus_process(gql, flow_id, flow_group_id):
    _toggle(gql, "enable_flow_lazarus_process", flow_id)
    before = settings(gql, flow_group_id)
    assert before["lazarus_enabled"] is True
    _toggle(gql, "disable_flow_lazarus_process", flow_id)
    assert settings(gql, flow_group_id) == {**before, "lazarus_enabled": False}


def test_disable_flow_lazarus_process_where_flow_id_none(gql):
    body = mutate(gql, "disable_flow_lazarus_process", {"flow_id": None})
    assert "got invalid value None at 'input.flow_id'" in error(body)


def test_enable_flow_lazarus_where_flow_id_none(gql):
    body = mutate(gql, "enable_flow_lazarus_process", {"flow_id": None})
    assert "got invalid value None at 'input.flow_id'" in error(body)


def test_flow_settings_of_an_unknown_flow_are_an_error(gql):
    """Beyond Server's own file: its resolvers answer "Invalid flow ID." for an unknown flow."""
    for mutation in ("enable_flow_heartbeat", "disable_flow_heartbeat", "enable_flow_lazarus_process",
                     "disable_flow_lazarus_process"):
        assert "Invalid flow ID" in refused(mutate(gql, mutation, {"flow_id": str(uuid.uuid4())}), mutation)


# --- TestSetScheduleActive, TestSetScheduleInactive ----------------------------------------------------

def test_set_flow_schedule_active(gql, flow_id):
    _toggle(gql, "set_schedule_inactive", flow_id)
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is False
    _toggle(gql, "set_schedule_active", flow_id)
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is True


def test_set_flow_schedule_inactive(gql, flow_id):
    _toggle(gql, "set_schedule_active", flow_id)
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is True
    _toggle(gql, "set_schedule_inactive", flow_id)
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is False


# --- beyond Server's own file: the rest of these mutations' semantics in Server's api/flows.py --------

def auto_runs(gql, flow_id):
    return count(gql, "flow_run", {"flow_id": {"_eq": flow_id}, "auto_scheduled": {"_eq": True}})


def test_set_schedule_active_schedules_runs_and_inactive_deletes_them(gql, flow_id):
    _toggle(gql, "set_schedule_active", flow_id)
    assert auto_runs(gql, flow_id) == 10
    _toggle(gql, "set_schedule_inactive", flow_id)
    assert auto_runs(gql, flow_id) == 0


def test_set_schedule_active_without_any_schedule_is_not_success(gql, project_id):
    flow_id = create_flow(gql, project_id, simple())
    assert ok(mutate(gql, "set_schedule_active", {"flow_id": flow_id}), "set_schedule_active")["success"] is False
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is False


def test_set_schedule_active_refuses_required_parameters_no_clock_provides(gql, project_id):
    serialized = prefect.Flow(name="test", schedule=prefect.schedules.CronSchedule("0 0 * * *"),
                              tasks=[prefect.Parameter("y")]).serialize(build=False)
    flow_id = create_flow(gql, project_id, serialized, set_schedule_active=False)
    body = mutate(gql, "set_schedule_active", {"flow_id": flow_id})
    assert "Can not schedule a flow that has required parameters" in refused(body, "set_schedule_active")
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is False


def test_schedule_setters_of_an_unknown_flow_are_not_success(gql):
    for mutation in ("set_schedule_active", "set_schedule_inactive"):
        assert ok(mutate(gql, mutation, {"flow_id": str(uuid.uuid4())}), mutation)["success"] is False


def test_archive_flow_deletes_auto_scheduled_runs_and_cancels_ad_hoc_ones(gql, flow_id):
    _toggle(gql, "set_schedule_active", flow_id)
    assert auto_runs(gql, flow_id) == 10
    ad_hoc = gql.create_flow_run(flow_id=flow_id)
    _toggle(gql, "archive_flow", flow_id)
    assert auto_runs(gql, flow_id) == 0
    assert row(gql, "flow_run", ad_hoc, "state")["state"] == "Cancelled"
    assert flow_row(gql, flow_id, "is_schedule_active")["is_schedule_active"] is False


def test_create_flow_whose_clocks_miss_a_required_parameter_registers_it_unscheduled(gql, project_id):
    serialized = prefect.Flow(name="test", schedule=prefect.schedules.CronSchedule("0 0 * * *"),
                              tasks=[prefect.Parameter("y")]).serialize(build=False)
    flow_id = create_flow(gql, project_id, serialized)
    assert flow_row(gql, flow_id, "is_schedule_active archived") == {"is_schedule_active": False, "archived": False}
    assert auto_runs(gql, flow_id) == 0
