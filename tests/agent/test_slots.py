"""Slots of blocked runs, end to end: runs waiting on their children do not count against
`--limit`, so trees of runs complete under any limit at any depth; working runs still do,
and blocked runs beyond `--max-blocked` count again."""
import time
from pathlib import Path
from typing import List

import pytest

from tests.helpers import wait_until

pytestmark = pytest.mark.e2e


def _recorded(workdir: Path) -> List[str]:
    path = workdir / "runs"
    return path.read_text().split() if path.exists() else []


def _tree(agent, workdir: Path, depth: int, width: int) -> str:
    flow_id = agent.register("tree.py")
    return agent.start(flow_id, depth=depth, width=width, project=agent.project, workdir=str(workdir))


def test_a_three_level_pipeline_completes_under_the_default_limit(own_agent, tmp_path):
    """1 parent, 2 children, 4 grandchildren through `tasks-flowrun agent` with no flags
    (limit = twice the CPU count): with waiting parents holding slots this never finished."""
    agent = own_agent(limit=None)
    root = _tree(agent, tmp_path, depth=2, width=2)
    run = agent.final(root, timeout=120)
    assert run["state"] == "Success", run
    recorded = _recorded(tmp_path)
    assert len(recorded) == 7 and len(set(recorded)) == 7, recorded  # each run did its work exactly once
    assert "up to" in agent.log_text() and "waiting on other flow runs" in agent.log_text()


def test_a_four_level_tree_completes_with_one_slot(own_agent, tmp_path):
    """Depth 3, width 2 (15 runs) through `--limit 1`: every parent waits while its children
    run one at a time."""
    agent = own_agent(limit=1)
    root = _tree(agent, tmp_path, depth=3, width=2)
    run = agent.final(root, timeout=240)
    assert run["state"] == "Success", run
    recorded = _recorded(tmp_path)
    assert len(recorded) == 15 and len(set(recorded)) == 15, recorded


def test_working_runs_stay_within_the_limit_under_a_waiting_parent(own_agent, client, project, tmp_path):
    """A parent waiting on 5 sleeping children under `--limit 2`: the parent's slot is free,
    but never more than 2 children run at once."""
    agent = own_agent(limit=2)
    child_flow = agent.register("pid_sleeper.py")
    parent_flow = agent.register("sleepers_parent.py")
    parent = agent.start(parent_flow, project=agent.project, workdir=str(tmp_path), n=5, seconds=1.5)
    most, saw_two = 0, False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = agent.runs_of(child_flow)
        running = sum(c["state"] in ("Submitted", "Running") for c in children)
        most = max(most, running)
        saw_two |= running == 2
        if agent.run(parent)["state"] in ("Success", "Failed"):
            break
        time.sleep(0.05)
    assert agent.run(parent)["state"] == "Success"
    assert len(agent.runs_of(child_flow)) == 5
    assert most <= 2, f"{most} children ran at once under --limit 2"
    assert saw_two, "the waiting parent's slot was not given to a child"


def test_blocked_runs_beyond_max_blocked_count_against_the_limit(own_agent, tmp_path):
    """`--limit 1 --max-blocked 1`: the root waits (not counted), its first child waits too,
    which is one waiting run too many, so it counts against the limit and its own children
    stay Scheduled: the bound is enforced (the documented way to stall an agent)."""
    agent = own_agent(limit=1, extra_args=["--max-blocked", "1"])
    root = _tree(agent, tmp_path, depth=2, width=1)
    wait_until(lambda: len(_recorded(tmp_path)) == 2, timeout=60, what="the root and its child to start")
    time.sleep(6)  # the grandchild is due all along; the agent may not start it
    assert len(_recorded(tmp_path)) == 2, "a run started although the blocked runs past --max-blocked fill --limit"
    agent.client.cancel_flow_run(root)


def test_a_run_due_later_holds_no_slot_while_it_waits_and_starts_on_time(own_agent):
    """`--limit 1`: a run due in 5 s, then a run due now. The stock loop would take the first
    and sleep until its start time in a deploy thread, holding the only slot."""
    import pendulum

    agent = own_agent(limit=1)
    flow_id = agent.register("quick.py")
    start = pendulum.now("UTC").add(seconds=5)
    later = agent.client.create_flow_run(flow_id=flow_id, parameters={"x": 1}, scheduled_start_time=start)
    time.sleep(1.0)  # the agent has seen it
    now = agent.start(flow_id, x=2)
    assert agent.final(now, timeout=60)["state"] == "Success"
    assert agent.states([later])[later] == "Scheduled", "the later run was taken before it was due"
    assert agent.final(later, timeout=60)["state"] == "Success"
    query = ('query($id: uuid!) { flow_run_state(where: {flow_run_id: {_eq: $id}, state: {_eq: "Submitted"}}) '
             '{ timestamp } }')
    [submitted] = agent.gql.data(query, {"id": later})["flow_run_state"]
    assert pendulum.parse(submitted["timestamp"]) >= start.subtract(seconds=0.1)
