"""Idempotency without the process lock: the database's unique key alone keeps one run per
(flow group, idempotency key), and the conflict clause skips only that duplicate.

The fifty-thread test of test_flow_run_creation.py goes through one server, whose write lock
serializes the creates; here two `Database` objects on one file (as two processes would
have) race. A create looks its key up only after the insert was skipped as a duplicate, so
the constraint alone stands between racing creates and a duplicate.
"""
import threading
from typing import List

import pytest

from tasks_flowrun.server.api import flow_runs
from tasks_flowrun.server.api.errors import ApiError
from tasks_flowrun.server.storage.database import Database
from tasks_flowrun.server.storage.stores import open_database
from tasks_flowrun.server.storage.rows import ConstraintError, fetch_rows, insert_rows
from tests.helpers import run_at_once
from tests.server.support import unique


@pytest.fixture
def counted_lookups(monkeypatch):
    """Counts the look-ups of a key (a call-through spy)."""
    real = flow_runs.run_id_for_key
    calls = {"n": 0}

    def lookup(conn, flow_group_id, key):
        calls["n"] += 1
        return real(conn, flow_group_id, key)

    monkeypatch.setattr(flow_runs, "run_id_for_key", lookup)
    return calls


def _runs_with_key(db: Database, key: str) -> List[dict]:
    with db.read() as conn:
        return fetch_rows(conn, "flow_run", ("id",), idempotency_key=key)


def test_a_new_key_is_not_looked_up_and_a_repeated_one_returns_the_first_run(server, make_flow, counted_lookups):
    db = server.app.state.db
    flow = make_flow()
    key = unique("constraint")
    with db.write() as conn:
        first = flow_runs.create_flow_run(conn, flow_id=flow.id, idempotency_key=key)
    assert counted_lookups["n"] == 0  # the insert itself tells a new key from a used one
    with db.write() as conn:
        second = flow_runs.create_flow_run(conn, flow_id=flow.id, idempotency_key=key)
    assert second == first
    assert counted_lookups["n"] == 1
    assert [r["id"] for r in _runs_with_key(db, key)] == [first]


def test_a_repeated_key_returns_the_first_run_even_when_the_request_is_otherwise_invalid(server, make_flow):
    db = server.app.state.db
    flow = make_flow()
    key = unique("invalid-repeat")
    with db.write() as conn:
        first = flow_runs.create_flow_run(conn, flow_id=flow.id, idempotency_key=key)
    with db.write() as conn:
        assert flow_runs.create_flow_run(conn, flow_id=flow.id, idempotency_key=key, context="not an object") == first
    with pytest.raises(ApiError, match="context must be a JSON object"):
        with db.write() as conn:
            flow_runs.create_flow_run(conn, flow_id=flow.id, idempotency_key=unique("new"), context="not an object")


def test_two_databases_on_one_file_racing_with_one_key_store_one_run(server, make_flow):
    flow = make_flow()
    key = unique("two-processes")
    target = server.settings.database  # the SQLite file, or the PostgreSQL database
    databases = [open_database(target), open_database(target)]  # separate pools and separate locks
    turn = iter(range(10**6))
    lock = threading.Lock()

    def create():
        with lock:
            db = databases[next(turn) % 2]
        with db.write() as conn:
            return flow_runs.create_flow_run(conn, flow_id=flow.id, idempotency_key=key)

    try:
        ids = run_at_once(create, threads=8)
    finally:
        for db in databases:
            db.dispose()
    assert len(set(ids)) == 1
    assert len(_runs_with_key(server.app.state.db, key)) == 1


def test_the_conflict_clause_skips_only_the_duplicate_key(server):
    db = server.app.state.db
    now = "2024-01-01T00:00:00.000000+00:00"
    row = dict(tenant_id="t", flow_id="f", flow_group_id=unique("group"), name="n", idempotency_key="k",
               scheduled_start_time=now, auto_scheduled=False, times_resurrected=0, version=0, created=now,
               updated=now)
    target = flow_runs.IDEMPOTENCY_KEY
    with pytest.raises(ConstraintError, match="(?i)not[ -]null"):
        with db.write() as conn:  # INSERT OR IGNORE would have silently dropped this row
            insert_rows(conn, "flow_run", [{**row, "id": unique("id"), "tenant_id": None}], conflict_target=target)
    with db.write() as conn:
        assert insert_rows(conn, "flow_run", [{**row, "id": unique("id")}], conflict_target=target) == 1
        assert insert_rows(conn, "flow_run", [{**row, "id": unique("id")}], conflict_target=target) == 0
    assert len(_runs_with_key(db, "k")) >= 1


def test_a_constraint_violation_is_a_clear_api_error(server, make_flow):
    db = server.app.state.db
    flow = make_flow()
    with pytest.raises(ApiError, match="could not be created"):
        with db.write() as conn:
            flow_runs.create_flow_run(conn, flow_id=flow.id, flow_run_name=None, scheduled_start_time=None,
                                      labels=None, idempotency_key=None, context={"a": 1},
                                      parameters=None, run_config=None, auto_scheduled=None)
