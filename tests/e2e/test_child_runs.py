"""Parents and children end to end, through `tasks-flowrun agent` and real flow processes:
the last log lines of children finishing together, restarts that rerun failed children but
leave the one a user cancelled, a parent recovered after SIGKILL that restarts none, a child
deleted while waited on, and no child created once the parent is cancelled.

Three tests need the backend's side of the contracts (the recovery and cascade markers,
the refusal of children of a cancelled parent); against a backend without it they are
skipped, saying why.
"""
import os
import signal
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tasks_flowrun import restart_flow_run
from tests.e2e.support import FLOWS, register_script
from tests.helpers import wait_until
from tests.server.support import GraphQL

pytestmark = pytest.mark.e2e

FINISHED = ("Success", "Failed", "Cancelled", "TimedOut")


def _children(gql: GraphQL, parent: str) -> List[Dict]:
    query = ("query($where: flow_run_bool_exp) { flow_run(where: $where, order_by: {created: asc}) "
             "{ id name state created context parameters } }")
    rows = gql.data(query, {"where": {"context": {"_contains": {"parent_flow_run_id": parent}}}})["flow_run"]
    return sorted(rows, key=lambda row: row["parameters"].get("x", 0))


def _run(gql: GraphQL, run_id: str) -> Dict:
    query = ("query($id: uuid!) { flow_run(where: {id: {_eq: $id}}) { id name state state_message created "
             "states(order_by: {timestamp: asc}) { state timestamp serialized_state } "
             "task_runs { state state_message task { slug } } } }")
    rows = gql.data(query, {"id": run_id})["flow_run"]
    return rows[0] if rows else {}


def _final(gql: GraphQL, run_id: str, timeout: float = 120, runs: int = 1) -> Dict:
    """The run once finished (after its `runs`-th Running state)."""
    def finished():
        run = _run(gql, run_id)
        ran = sum(1 for s in run.get("states", []) if s["state"] == "Running")
        return run if run.get("state") in FINISHED and ran >= runs else None

    return wait_until(finished, timeout=timeout, interval=0.25, what=lambda: f"run {run_id} to finish: {_run(gql, run_id)}")


def _wait_message(run: Dict) -> str:
    [message] = [t["state_message"] for t in run["task_runs"] if t["task"]["slug"].startswith("wait_for_flow_run")]
    return str(message)


def _attempts(workdir: Path, run_id: str) -> int:
    path = workdir / f"{run_id}.attempts"
    return len(path.read_text().split()) if path.exists() else 0


def _parent(client, project, workdir: Path, firsts: List[str], pace: float = 0.0) -> str:
    register_script(FLOWS / "rr_child.py", project)
    flow_id, _ = register_script(FLOWS / "rr_parent.py", project)
    return client.create_flow_run(flow_id=flow_id, parameters={"project": project, "firsts": firsts,
                                                               "workdir": str(workdir), "pace": pace})


def _children_running(gql, parent, n, workdir):
    def started():
        rows = _children(gql, parent)
        return rows if len(rows) == n and all(_attempts(workdir, r["id"]) for r in rows) else None

    return wait_until(started, timeout=120, interval=0.25, what=f"{n} children of {parent} to start")


def test_every_childs_last_line_reaches_the_parents_log_when_they_finish_together(agent, client, project, gql,
                                                                                 tmp_path):
    n = 8
    register_script(FLOWS / "lines_child.py", project)
    flow_id, _ = register_script(FLOWS / "lines_parent.py", project)
    parent = client.create_flow_run(flow_id=flow_id, parameters={"project": project, "n": n,
                                                                 "workdir": str(tmp_path)})
    wait_until(lambda: all((tmp_path / f"waiting-{x}").exists() for x in range(n)), timeout=180,
               what="every child to wait for the release")
    (tmp_path / "release").write_text("now")  # they all log their last line and end together
    assert _final(gql, parent)["state"] == "Success"
    children = {row["parameters"]["x"]: row["name"] for row in _children(gql, parent)}

    def parent_lines():
        query = "query($id: uuid!) { log(where: {flow_run_id: {_eq: $id}}) { message } }"
        return {row["message"] for row in gql.data(query, {"id": parent})["log"]}

    expected = {f"{children[x]}: last line of child {x}" for x in range(n)}
    # the parent uploads its own last lines as its process exits
    lines = wait_until(lambda: (lambda got: got if expected <= got else None)(parent_lines()), timeout=30,
                       what=lambda: f"the parent's log to hold {sorted(expected - parent_lines())}")
    assert expected <= lines


def test_a_restart_reruns_the_failed_child_and_leaves_the_one_a_user_cancelled(agent, client, project, gql,
                                                                              tmp_path):
    parent = _parent(client, project, tmp_path, ["fail", "wait"])
    failed, waiting = _children_running(gql, parent, 2, tmp_path)
    wait_until(lambda: _run(gql, waiting["id"])["state"] == "Running", timeout=60, what="the second child to run")
    client.cancel_flow_run(waiting["id"])  # a user's decision
    first = _final(gql, parent)
    assert first["state"] == "Failed"
    assert "Cancelled by a user" in _wait_message(first)

    assert restart_flow_run(parent, client=client)
    second = _final(gql, parent, runs=2)
    assert second["state"] == "Failed"
    assert _run(gql, failed["id"])["state"] == "Success" and _attempts(tmp_path, failed["id"]) == 2
    assert _run(gql, waiting["id"])["state"] == "Cancelled" and _attempts(tmp_path, waiting["id"]) == 1
    message = _wait_message(second)
    assert f"Cancelled by a user, so a restart of this parent leaves them Cancelled: {waiting['name']!r} " \
           f"({waiting['id']}); to run them again, restart those children" in message

    # the user restarts that child, then the parent: now everything succeeds, nothing runs twice
    assert restart_flow_run(waiting["id"], client=client)
    assert _final(gql, waiting["id"], runs=2)["state"] == "Success"
    assert restart_flow_run(parent, client=client)
    assert _final(gql, parent, runs=3)["state"] == "Success"
    assert _attempts(tmp_path, failed["id"]) == 2 and _attempts(tmp_path, waiting["id"]) == 2


def test_children_cancelled_with_their_parent_rerun_when_it_is_restarted(agent, client, project, gql, tmp_path):
    parent = _parent(client, project, tmp_path, ["wait"])
    [child] = _children_running(gql, parent, 1, tmp_path)
    wait_until(lambda: _run(gql, child["id"])["state"] == "Running", timeout=60, what="the child to run")
    client.cancel_flow_run(parent)
    assert _final(gql, parent)["state"] == "Cancelled"
    cancelled = _final(gql, child["id"])
    assert cancelled["state"] == "Cancelled"
    marked = [s for s in cancelled["states"]
              if ((s["serialized_state"] or {}).get("context") or {}).get("cancelled_with_parent") == parent]
    if not marked:
        pytest.skip("this backend does not mark children cancelled with their parent (`cancelled_with_parent`, "
                    "built on the backend's side)")
    assert restart_flow_run(parent, client=client)
    assert _final(gql, parent, runs=2)["state"] == "Success"
    assert _run(gql, child["id"])["state"] == "Success" and _attempts(tmp_path, child["id"]) == 2


def test_a_parent_recovered_after_its_process_died_restarts_no_child(agent, client, project, gql, tmp_path):
    parent = _parent(client, project, tmp_path, ["fail", "wait"])
    failed, waiting = _children_running(gql, parent, 2, tmp_path)
    wait_until(lambda: _run(gql, failed["id"])["state"] == "Failed", timeout=60, what="the first child to fail")
    [pid] = [int(p) for p in (tmp_path / f"{parent}.parent").read_text().split()]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: sum(s["state"] == "Running" for s in _run(gql, parent)["states"]) >= 2, timeout=120,
               what=lambda: f"the parent to run again: {_run(gql, parent)['states']}")
    requeued = [s for s in _run(gql, parent)["states"] if s["state"] == "Scheduled"][-1]
    if not ((requeued["serialized_state"] or {}).get("context") or {}).get("tasks_flowrun_recovered"):
        (tmp_path / "release-1").write_text("")
        pytest.skip("this backend does not mark a recovered run (`tasks_flowrun_recovered`, built on the "
                    "backend's side)")
    time.sleep(2)  # the rerun re-attaches to both children meanwhile
    (tmp_path / "release-1").write_text("")
    final = _final(gql, parent, runs=2)
    assert final["state"] == "Failed"  # its failed child was not rerun: that was not the user's call
    assert _run(gql, failed["id"])["state"] == "Failed" and _attempts(tmp_path, failed["id"]) == 1
    assert _run(gql, waiting["id"])["state"] == "Success" and _attempts(tmp_path, waiting["id"]) == 1


def test_a_parent_fails_saying_its_child_was_deleted(agent, client, project, gql, tmp_path):
    parent = _parent(client, project, tmp_path, ["wait"])
    [child] = _children_running(gql, parent, 1, tmp_path)
    gql.data("mutation($input: delete_flow_run_input!) { delete_flow_run(input: $input) { success } }",
             {"input": {"flow_run_id": child["id"]}})
    final = _final(gql, parent, timeout=60)
    (tmp_path / "release-0").write_text("")
    assert final["state"] == "Failed"
    assert f"Child flow run {child['name']!r} ({child['id']}) was deleted while this task waited for it" \
        in _wait_message(final)


def test_no_child_is_created_once_the_parent_is_cancelled(agent, client, project, gql, tmp_path):
    from tests.tasks.test_parent_gone import refusal_supported

    if not refusal_supported(client, project):
        pytest.skip("this backend does not refuse children of a cancelled parent yet (the PARENT_CANCELLED "
                    "refusal is built on the backend's side)")
    parent = _parent(client, project, tmp_path, ["ok"] * 40, pace=0.25)
    wait_until(lambda: len(_children(gql, parent)) >= 3, timeout=120, what="the first children")
    client.cancel_flow_run(parent)
    run = _final(gql, parent, timeout=60)
    assert run["state"] == "Cancelled"
    cancelling = [s["timestamp"] for s in run["states"] if s["state"] in ("Cancelling", "Cancelled")][0]
    time.sleep(3)  # anything the process still tried has been answered
    children = _children(gql, parent)
    assert len(children) < 40
    late = [c for c in children if c["created"] > cancelling]
    assert not late, late
