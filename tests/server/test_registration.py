"""Registration: `prefect create project`, `prefect register` (CLI subprocesses) and `flow.register` (Client)."""
import json
import textwrap
from pathlib import Path

import pytest

from tests.server.support import GraphQL, build_flow, flow_metadata, register, run_prefect, unique

FLOW_SCRIPT = textwrap.dedent(
    '''
    from prefect import Flow, Parameter, task
    from prefect.run_configs import UniversalRun
    from prefect.storage import Local


    @task
    def greet(name):
        return f"hello {{name}}"


    {extra}

    with Flow(
        {name!r},
        storage=Local(path=__file__, stored_as_script=True, add_default_labels=False),
        run_config=UniversalRun(labels=["registration-tests-no-agent"]),
    ) as flow:
        name = Parameter("name", default="world")
        greet(name)
        {extra_call}
    '''
)


def write_script(path: Path, flow_name: str, changed: bool = False) -> Path:
    extra = "@task\ndef extra():\n    return 1\n" if changed else ""
    extra_call = "extra()" if changed else ""
    path.write_text(FLOW_SCRIPT.format(name=flow_name, extra=extra, extra_call=extra_call))
    return path


def versions(gql: GraphQL, flow_name: str, project: str):
    return gql.data(
        'query { flow(where: {name: {_eq: %s}, project: {name: {_eq: %s}}}, order_by: {version: asc}) '
        '{ id version archived } }' % (json.dumps(flow_name), json.dumps(project))
    )["flow"]


def test_cli_create_project_twice_succeeds_both_times(backend_env, gql: GraphQL):
    name = unique("cli-proj")
    first = run_prefect(["create", "project", name, "--description", "made by a test"], backend_env)
    assert first.returncode == 0, first.stdout
    assert f"{name} created" in first.stdout
    # The duplicate comes back as "Uniqueness violation." and the CLI still reports success.
    second = run_prefect(["create", "project", name], backend_env)
    assert second.returncode == 0, second.stdout
    assert f"{name} created" in second.stdout
    rows = gql.data('query { project(where: {name: {_eq: %s}}) { id name } }' % json.dumps(name))["project"]
    assert len(rows) == 1


def test_cli_register_skips_unchanged_and_archives_on_change(backend_env, gql: GraphQL, tmp_path: Path):
    project = unique("cli-reg")
    assert run_prefect(["create", "project", project], backend_env).returncode == 0
    flow_name = unique("cli-flow")
    script = write_script(tmp_path / "flow.py", flow_name)

    first = run_prefect(["register", "-p", str(script), "--project", project], backend_env)
    assert first.returncode == 0, first.stdout
    assert "Done" in first.stdout and "Version: 1" in first.stdout, first.stdout
    (v1,) = versions(gql, flow_name, project)
    assert v1["version"] == 1 and v1["archived"] is False
    assert f"ID: {v1['id']}" in first.stdout

    again = run_prefect(["register", "-p", str(script), "--project", project], backend_env)
    assert again.returncode == 0, again.stdout
    assert "Skipped" in again.stdout, again.stdout
    assert versions(gql, flow_name, project) == [v1]

    write_script(script, flow_name, changed=True)
    changed = run_prefect(["register", "-p", str(script), "--project", project], backend_env)
    assert changed.returncode == 0, changed.stdout
    assert "Version: 2" in changed.stdout, changed.stdout
    rows = versions(gql, flow_name, project)
    assert [(r["version"], r["archived"]) for r in rows] == [(1, True), (2, False)]
    assert rows[0]["id"] == v1["id"]

    # The stored flow is the complete serialized flow: its tasks, storage and run config.
    flow = gql.data(
        'query { flow_by_pk(id: %s) { serialized_flow storage run_config parameters core_version } }'
        % json.dumps(rows[1]["id"])
    )["flow_by_pk"]
    slugs = {task["slug"] for task in flow["serialized_flow"]["tasks"]}
    assert any(slug.startswith("greet") for slug in slugs) and any(slug.startswith("extra") for slug in slugs)
    assert flow["storage"]["type"] == "Local" and flow["storage"]["stored_as_script"] is True
    assert flow["run_config"]["labels"] == ["registration-tests-no-agent"]
    assert [p["name"] for p in flow["parameters"]] == ["name"]
    assert flow["core_version"] == "1.4.1"

    # --force registers a new version even though nothing changed.
    forced = run_prefect(["register", "-p", str(script), "--project", project, "--force"], backend_env)
    assert forced.returncode == 0, forced.stdout
    assert "Version: 3" in forced.stdout, forced.stdout
    assert [(r["version"], r["archived"]) for r in versions(gql, flow_name, project)] == [
        (1, True), (2, True), (3, False),
    ]


def test_cli_register_into_a_missing_project_fails_cleanly(backend_env, tmp_path: Path):
    script = write_script(tmp_path / "flow.py", unique("orphan"))
    result = run_prefect(["register", "-p", str(script), "--project", unique("no-such-project")], backend_env)
    assert result.returncode != 0
    assert "does not exist" in result.stdout, result.stdout


def test_client_register_with_idempotency_key_and_new_versions(gql: GraphQL, project: str, tmp_path: Path):
    name = unique("client-flow")
    v1 = register(gql, build_flow(name, n_tasks=2, storage_dir=tmp_path), project, idempotency_key="key-1")
    assert v1.version == 1
    same = register(gql, build_flow(name, n_tasks=2, storage_dir=tmp_path), project, idempotency_key="key-1")
    assert same.id == v1.id
    assert [(r["version"], r["archived"]) for r in versions(gql, name, project)] == [(1, False)]

    v2 = register(gql, build_flow(name, n_tasks=3, storage_dir=tmp_path), project, idempotency_key="key-2")
    assert v2.id != v1.id and v2.version == 2
    assert v2.version_group_id == v1.version_group_id
    assert v2.flow_group_id == v1.flow_group_id
    assert flow_metadata(gql, v1.id)["archived"] is True
    assert flow_metadata(gql, v2.id)["archived"] is False

    # No key at all: always a new version.
    v3 = register(gql, build_flow(name, n_tasks=3, storage_dir=tmp_path), project)
    assert v3.version == 3
    assert [(r["version"], r["archived"]) for r in versions(gql, name, project)] == [
        (1, True), (2, True), (3, False),
    ]


def test_client_register_sends_tasks_and_edges_separately(gql: GraphQL, project: str, tmp_path: Path):
    """`flow.register` sends the flow without tasks, then register_tasks / register_edges."""
    from prefect import Parameter

    flow = register(
        gql, build_flow(unique("tasks-edges"), parameters=[Parameter("p", default=1)], n_tasks=3, storage_dir=tmp_path),
        project,
    )
    run_id = gql.create_flow_run(flow_id=flow.id)
    run = gql.flow_run(run_id)
    slugs = sorted(tr["task"]["slug"] for tr in run["task_runs"])
    expected = sorted(flow.flow.slugs.values())
    assert slugs == expected and len(slugs) == 4


def test_explicit_version_group_id_groups_different_names(gql: GraphQL, project: str, tmp_path: Path):
    first = register(gql, build_flow(unique("vg-one"), storage_dir=tmp_path), project)
    second = register(
        gql, build_flow(unique("vg-two"), storage_dir=tmp_path), project, version_group_id=first.version_group_id
    )
    assert second.version_group_id == first.version_group_id
    assert second.version == 2
    assert flow_metadata(gql, first.id)["archived"] is True


def test_archiving_cancels_the_old_versions_scheduled_runs(gql: GraphQL, project: str, tmp_path: Path):
    name = unique("archive-cancels")
    v1 = register(gql, build_flow(name, storage_dir=tmp_path), project)
    run_id = gql.create_flow_run(flow_id=v1.id)
    assert gql.flow_run(run_id)["state"] == "Scheduled"
    register(gql, build_flow(name, n_tasks=2, storage_dir=tmp_path), project)
    run = gql.flow_run(run_id)
    assert run["state"] == "Cancelled", run["states"]
    assert all(tr["type"] == "Cancelled" for tr in run["task_runs"]), run["task_runs"]


def test_flow_view_by_flow_group_id(gql: GraphQL, project: str, tmp_path: Path):
    from prefect.backend import FlowView

    name = unique("fv-group")
    register(gql, build_flow(name, storage_dir=tmp_path), project)
    v2 = register(gql, build_flow(name, n_tasks=2, storage_dir=tmp_path), project)
    view = FlowView.from_id(v2.flow_group_id)  # tried as a flow id first, then as a flow group id
    assert view.flow_id == v2.id
    with pytest.raises(ValueError):
        FlowView.from_flow_name(name, project_name=unique("other"))
