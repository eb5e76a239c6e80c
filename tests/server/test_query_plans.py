"""The queries the plugin, the agent and the flow runner send often never scan a growing
table: every statement the backend runs for a real fan-out (parent, children, agent, waits)
is EXPLAINed, and a full scan of a run, state or log table fails the test."""
import re
import sqlite3
from pathlib import Path
from typing import List, Set

import pytest
import sqlalchemy as sa
from prefect.backend import FlowRunView

from tasks_flowrun.demo.register import register_file
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.sqlite_only]  # SQLite's EXPLAIN QUERY PLAN

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "parent_flows"
# Tables that grow with every run; a scan of a small table (tenant, project...) is fine.
GROWING = {"flow_run", "task_run", "flow_run_state", "task_run_state", "log", "flow", "task"}
SCAN = re.compile(r"\bSCAN (\w+)\b")  # a whole table, or a whole index of it: not a SEARCH


def _shape(sql: str) -> str:
    """The statement with its literals replaced, to EXPLAIN each shape once."""
    return re.sub(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b", "?", sql)


@pytest.fixture
def traced(server):
    """Every SELECT the backend runs while the fixture is active (new pooled connections)."""
    statements: List[str] = []

    def trace(dbapi_conn, _record):
        dbapi_conn.set_trace_callback(lambda sql: statements.append(sql) if sql.lstrip().upper().startswith(
            ("SELECT", "WITH")) else None)

    engine = server.app.state.db.engine
    sa.event.listen(engine, "connect", trace)
    engine.dispose()  # the pool reconnects, now traced
    yield statements
    sa.event.remove(engine, "connect", trace)
    engine.dispose()


def test_a_fan_out_through_the_agent_runs_no_full_scan_of_a_growing_table(client, project, agent, traced, server):
    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    batches = [{"batch": i, "size": 10, "seconds": 0.1} for i in range(3)]
    parent = client.create_flow_run(flow_id=flows["fan-out-parent"], parameters={"project": project, "batches": batches})
    wait_until(lambda: FlowRunView.from_flow_run_id(parent).state.is_finished(), timeout=180, interval=0.5)
    assert FlowRunView.from_flow_run_id(parent).state.is_successful()

    raw = sqlite3.connect(str(server.app.state.db.path))
    scans: Set[str] = set()
    shapes = {_shape(sql): sql for sql in traced}
    assert len(shapes) > 20, "too few statements traced to judge"
    for shape, sql in shapes.items():
        try:
            plan = " | ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + sql))
        except sqlite3.Error:
            continue  # e.g. a statement using a temp table of its own connection
        for table in SCAN.findall(plan):
            if table in GROWING:
                scans.add(f"{table}: {plan}\n    {shape[:400]}")
    keyed = [sql for sql in shapes.values() if "idempotency_key =" in sql]
    assert keyed, "the plugin's look-up by idempotency key was not traced"
    for sql in keyed:  # found through the key, not by walking every run of the child flow
        plan = " | ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + sql))
        assert "idempotency_key=?" in plan, plan
    raw.close()
    assert not scans, "full scans:\n" + "\n".join(sorted(scans))
