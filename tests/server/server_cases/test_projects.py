"""Prefect Server's tests/graphql/test_projects.py, over HTTP: create, delete, rename and
describe projects."""
import uuid

from prefect.engine.state import Running

from tests.server.server_cases.calls import create_flow, error, mutate, ok, refused, row, rows
from tests.server.server_cases.conftest import build_test_flow
from tests.server.support import unique


def create_project(gql, **input_):
    return mutate(gql, "create_project", input_, "id")


# --- TestCreateProject ------------------------------------------------------------------------------

def test_create_project(gql, tenant_id):
    name = unique("test-gql")
    project_id = ok(create_project(gql, tenant_id=tenant_id, name=name), "create_project")["id"]
    assert row(gql, "project", project_id, "name tenant_id") == {"name": name, "tenant_id": tenant_id}
    mutate(gql, "delete_project", {"project_id": project_id})


def test_create_project_with_description(gql, tenant_id):
    name = unique("test-gql")
    project_id = ok(create_project(gql, tenant_id=tenant_id, name=name, description="test-description"),
                    "create_project")["id"]
    assert row(gql, "project", project_id, "name description") == {"name": name, "description": "test-description"}
    mutate(gql, "delete_project", {"project_id": project_id})


def test_create_project_with_duplicate_name(gql, tenant_id):
    name = unique("test-gql")
    first = ok(create_project(gql, tenant_id=tenant_id, name=name), "create_project")["id"]
    assert "Uniqueness violation" in refused(create_project(gql, tenant_id=tenant_id, name=name), "create_project")
    assert [p["id"] for p in rows(gql, "project", {"name": {"_eq": name}}, "id")] == [first]
    mutate(gql, "delete_project", {"project_id": first})


# --- TestDeleteProject ------------------------------------------------------------------------------

def test_delete_project(gql, project_id):
    assert ok(mutate(gql, "delete_project", {"project_id": project_id}), "delete_project")["success"] is True
    assert row(gql, "project", project_id, "id") is None


def test_delete_project_bad_id(gql, project_id):
    assert ok(mutate(gql, "delete_project", {"project_id": str(uuid.uuid4())}), "delete_project")["success"] is False
    assert row(gql, "project", project_id, "id") is not None


def test_delete_project_cascades_to_its_flows_and_their_runs(gql, project_id):
    """Beyond Server's own file: what `delete_project` takes with it (Server's foreign keys cascade)."""
    flow_id = create_flow(gql, project_id, build_test_flow().serialize(), set_schedule_active=False)
    run_id = gql.create_flow_run(flow_id=flow_id)
    gql.set_flow_run_state(run_id, Running())
    gql.data("mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
             {"input": {"logs": [{"flow_run_id": run_id, "message": "m"}]}})
    assert ok(mutate(gql, "delete_project", {"project_id": project_id}), "delete_project")["success"] is True
    assert row(gql, "flow", flow_id, "id") is None and row(gql, "flow_run", run_id, "id") is None
    for table, where in (("task", {"flow_id": {"_eq": flow_id}}), ("edge", {"flow_id": {"_eq": flow_id}}),
                         ("task_run", {"flow_run_id": {"_eq": run_id}}), ("log", {"flow_run_id": {"_eq": run_id}}),
                         ("flow_run_state", {"flow_run_id": {"_eq": run_id}})):
        assert rows(gql, table, where, "id") == [], table


# --- TestSetProjectName -----------------------------------------------------------------------------

def test_set_project_name(gql, project_id):
    name = unique("foo-bar")
    body = mutate(gql, "set_project_name", {"project_id": project_id, "name": name}, "id")
    assert ok(body, "set_project_name")["id"] == project_id
    assert row(gql, "project", project_id, "name")["name"] == name


def test_set_project_name_with_bad_project_id(gql):
    body = mutate(gql, "set_project_name", {"project_id": str(uuid.uuid4()), "name": "foo-bar"}, "id")
    assert "Update failed" in error(body)


def test_update_project_to_already_used_name_fails(gql, project_id, project_id_2):
    taken = row(gql, "project", project_id_2, "name")["name"]
    own = row(gql, "project", project_id, "name")["name"]
    body = mutate(gql, "set_project_name", {"project_id": project_id, "name": taken}, "id")
    assert "Uniqueness violation" in refused(body, "set_project_name")
    assert row(gql, "project", project_id, "name")["name"] == own


# --- TestSetProjectDescription ----------------------------------------------------------------------

def test_set_project_description(gql, project_id):
    body = mutate(gql, "set_project_description", {"project_id": project_id, "description": "foo-bar"}, "id")
    assert ok(body, "set_project_description")["id"] == project_id
    assert row(gql, "project", project_id, "description")["description"] == "foo-bar"


def test_set_project_description_with_bad_project_id(gql):
    body = mutate(gql, "set_project_description", {"project_id": str(uuid.uuid4()), "description": "foo-bar"}, "id")
    assert "Update failed" in error(body)
