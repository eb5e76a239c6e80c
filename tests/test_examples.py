"""Every example in examples/parent_flows/ runs through the embedded backend and a real LocalAgent."""
import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pendulum
import pytest
from prefect.backend import FlowRunView

from tasks_flowrun.demo.register import register_file
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "parent_flows"
RUN_TIMEOUT = 180.0


def gql(client: Any, document: str, **literals: Any) -> Any:
    """Run a query whose %(name)s placeholders are filled with JSON literals."""
    return client.graphql(document % {k: json.dumps(v) for k, v in literals.items()}).data


def flow_ids(client: Any, project: str, flow_name: str) -> List[str]:
    data = gql(
        client,
        "query { flow(where: {name: {_eq: %(name)s}, project: {name: {_eq: %(project)s}}}) { id } }",
        name=flow_name,
        project=project,
    )
    return [f.id for f in data.flow]


def runs_of(client: Any, project: str, flow_name: str) -> List[Any]:
    """Every flow run of `flow_name` in `project` (any version)."""
    data = gql(
        client,
        "query { flow_run(where: {flow_id: {_in: %(ids)s}}) {"
        " id name flow_id state state_message parameters context scheduled_start_time start_time end_time } }",
        ids=flow_ids(client, project, flow_name),
    )
    return list(data.flow_run)


def run_row(client: Any, run_id: str) -> Any:
    data = gql(client, "query { flow_run(where: {id: {_eq: %(id)s}}) { id start_time end_time } }", id=run_id)
    return data.flow_run[0]


def task_started(client: Any, run_id: str, slug: str) -> pendulum.DateTime:
    data = gql(
        client,
        "query { task_run(where: {flow_run_id: {_eq: %(id)s}, task: {slug: {_eq: %(slug)s}}}) { start_time } }",
        id=run_id,
        slug=slug,
    )
    return pendulum.parse(data.task_run[0].start_time)


def run_to_end(client: Any, flow_id: str, parameters: Dict[str, Any]) -> FlowRunView:
    """Create a run of `flow_id` (the agent deploys it) and wait until it is finished."""
    run_id = client.create_flow_run(flow_id=flow_id, parameters=parameters)
    wait_until(
        lambda: FlowRunView.from_flow_run_id(run_id).state.is_finished(),
        timeout=RUN_TIMEOUT,
        interval=0.5,
        what=f"flow run {run_id} to finish",
    )
    return FlowRunView.from_flow_run_id(run_id)


def assert_success(view: FlowRunView) -> None:
    assert view.state.is_successful(), f"{view.name}: {type(view.state).__name__}: {view.state.message}"


def log_messages(run_id: str, expected: str) -> List[str]:
    """The run's log lines, once `expected` is among them (logs are uploaded in batches)."""
    def messages() -> List[str]:
        view = FlowRunView.from_flow_run_id(run_id)
        return [log.message for log in view.get_logs(end_time=pendulum.now("UTC").add(minutes=1))]

    wait_until(lambda: any(expected in m for m in messages()), timeout=30, what=f"log line {expected!r}")
    return messages()


def test_hello_world_with_the_prefect_cli(backend_env, client, project, agent) -> None:
    """Exactly the commands in the file's header: `prefect register`, then `prefect run --watch`."""
    prefect_cli = [sys.executable, "-m", "prefect"]
    register = ["register", "-p", str(EXAMPLES / "hello_world.py"), "--project", project]
    subprocess.run(prefect_cli + register, env=backend_env, check=True, capture_output=True, timeout=120)
    run = ["run", "--name", "hello-world-parent", "--project", project, "--param", f"project={project}", "--watch"]
    watched = subprocess.run(
        prefect_cli + run, env=backend_env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    assert watched.returncode == 0, watched.stdout + watched.stderr
    # the child's log line, streamed into the parent's logs, is what `prefect run --watch` shows
    assert "Hello, parent!" in watched.stdout, watched.stdout
    (child,) = runs_of(client, project, "hello-world")
    assert child.state == "Success"
    assert child.parameters["name"] == "parent"


def test_fan_out_waits_on_all_children_then_adds_their_results(client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    batches = [{"batch": i, "size": 10, "seconds": 0.2} for i in range(4)]
    parent = run_to_end(client, flows["fan-out-parent"], {"project": project, "batches": batches})
    assert_success(parent)

    children = runs_of(client, project, "fan-out-child")
    assert len(children) == 4 and all(c.state == "Success" for c in children)
    assert {c.context["parent_flow_run_id"] for c in children} == {parent.flow_run_id}
    assert sorted(c.parameters["batch"] for c in children) == [0, 1, 2, 3]
    assert len({c.name for c in children}) == 4
    # one bulk wait: every child had finished when the parent's report task started
    assert max(pendulum.parse(c.end_time) for c in children) <= task_started(client, parent.flow_run_id, "report-1")
    grand_total = sum(range(0, 40))
    log_messages(parent.flow_run_id, f"4 children, grand total {grand_total}")


def test_nested_three_levels_each_waiting_on_the_next(client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "nested.py", project)
    top = run_to_end(client, flows["nested-grandparent"], {"project": project})
    assert_success(top)

    (middle,) = runs_of(client, project, "nested-parent")
    (leaf,) = runs_of(client, project, "nested-child")
    assert middle.state == leaf.state == "Success"
    assert middle.context["parent_flow_run_id"] == top.flow_run_id
    assert leaf.context["parent_flow_run_id"] == middle.id
    assert leaf.parameters["n"] == 4
    # each level ended only after the level below it
    assert pendulum.parse(leaf.end_time) <= pendulum.parse(middle.end_time)
    assert pendulum.parse(middle.end_time) <= pendulum.parse(run_row(client, top.flow_run_id).end_time)
    log_messages(middle.id, "4 squared is 16")


def test_flow_group_runs_the_newest_version(client, project, agent, flows_dir: Path) -> None:
    source = EXAMPLES / "flow_group.py"
    first = register_file(client, source, project)
    lookup = runpy.run_path(str(source), run_name="example")["lookup_flow_group_id"]
    group_id = lookup("nightly-report", project)

    # a changed child, registered again: a new version in the same group, the old one archived
    changed = flows_dir / "flow_group.py"
    changed.write_text(source.read_text().replace('default="nightly report"', 'default="nightly report v2"'))
    second = register_file(client, changed, project)
    assert second["nightly-report"] != first["nightly-report"]
    assert lookup("nightly-report", project) == group_id

    parent = run_to_end(client, second["report-by-group"], {"flow_group_id": group_id})
    assert_success(parent)
    (child,) = runs_of(client, project, "nightly-report")
    assert child.state == "Success"
    assert child.flow_id == second["nightly-report"], "the group's newest unarchived version must run"


def test_scheduled_children_start_when_due(client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "scheduled.py", project)
    parent = run_to_end(client, flows["schedule-reminders"], {"project": project, "delay_seconds": 7})
    assert_success(parent)

    children = {c.parameters["message"]: c for c in runs_of(client, project, "reminder")}
    assert set(children) == {"five seconds have passed", "the absolute time has come"}
    started = pendulum.parse(run_row(client, parent.flow_run_id).start_time)  # before the creates ran
    for message, delay in (("five seconds have passed", 5), ("the absolute time has come", 7)):
        child = children[message]
        assert child.state == "Success"
        due = pendulum.parse(child.scheduled_start_time)
        assert due >= started.add(seconds=delay), (message, due, started)
        assert pendulum.parse(child.start_time) >= due, "a child must not start before it is due"


def test_recovery_parent_fails_then_its_restart_reruns_only_the_failed_child_task(client, project, agent,
                                                                                   tmp_path: Path) -> None:
    flows = register_file(client, EXAMPLES / "recovery.py", project)
    module = runpy.run_path(str(EXAMPLES / "recovery.py"), run_name="example")
    parent = run_to_end(client, flows["recovery-parent"], {"project": project, "markers": str(tmp_path)})
    assert parent.state.is_failed(), parent.state
    before = {c.id: c.state for c in runs_of(client, project, "recovery-child")}
    assert sorted(before.values()) == ["Failed", "Success", "Success"]

    assert module["restart_flow_run"](parent.flow_run_id, client=client)
    wait_until(lambda: FlowRunView.from_flow_run_id(parent.flow_run_id).state.is_successful(),
               timeout=RUN_TIMEOUT, interval=0.5, what="the restarted parent to succeed")
    after = {c.id: c.state for c in runs_of(client, project, "recovery-child")}
    assert set(after) == set(before) and set(after.values()) == {"Success"}  # the same three children
    [flaky] = [run_id for run_id, state in before.items() if state == "Failed"]
    history = gql(client, "query { task_run(where: {flow_run_id: {_eq: %(id)s}}) { task { slug } "
                          "states { state } } }", id=flaky).task_run
    runs = {row.task.slug: [s.state for s in row.states].count("Running") for row in history}
    assert (runs["load-1"], runs["transform-1"]) == (1, 2), runs  # only the failed task ran again
