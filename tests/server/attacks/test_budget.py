"""The time budget: a request working too long, or whose client left, stops; writes roll back."""
import sqlite3
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy as sa

from tests.server.attacks.support import REQUEST_TIMEOUT, Target, refused, timed
from tests import stores
from tests.stores import execute


def _active_statements(database: str) -> list:
    """Statements PostgreSQL is running for the database, other than this query and the
    backends' own presence report (once a second, services/availability.py)."""
    import psycopg

    with psycopg.connect(database) as conn:
        return conn.execute("SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                            "AND state = 'active' AND pid <> pg_backend_pid() "
                            "AND query NOT LIKE '%server_process%'").fetchall()

# every line ordered by how many lines its run has: one count per line, over the crowded run's
# 60,000 lines each time, on either store (a filter through the relation would be one hash join)
SLOW = "query { log(limit: 1, order_by: {flow_run: {logs_aggregate: {count: desc}}}) { id } }"


@pytest.fixture(scope="module")
def crowded_run(target: Target) -> str:
    """A run with 60,000 log lines, written straight into the database (as another tool would)."""
    run_id = target.create_run()
    now = "2024-01-01T00:00:00.000000+00:00"
    execute(target.database,
            "INSERT INTO log (id, flow_run_id, timestamp, level, message, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
            many=[(str(uuid.uuid4()), run_id, now, "INFO", f"line {i}", now, now) for i in range(60_000)])
    return run_id


def test_a_query_over_its_time_budget_stops_with_a_json_error(target: Target, crowded_run: str):
    resp = timed(lambda: target.gql(SLOW), REQUEST_TIMEOUT + 2)
    body = refused(resp, 200, "time budget", f"{REQUEST_TIMEOUT:g} s")
    assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"
    target.assert_healthy()


def test_a_client_that_disconnects_stops_its_work(target: Target, crowded_run: str):
    with pytest.raises(requests.Timeout):
        requests.post(target.url, json={"query": SLOW}, timeout=0.3)
    time.sleep(1.0)  # the server polls its client every 0.5 s
    if stores.is_postgresql():  # the statement runs in PostgreSQL's process: it must be cancelled
        assert _active_statements(target.database) == [], "PostgreSQL still runs the left request's statement"
    before = target.cpu_seconds()
    time.sleep(0.5)
    burned = target.cpu_seconds() - before
    assert burned < 0.25, f"the server kept working after its client left ({burned:.2f} s CPU in 0.5 s)"
    target.assert_healthy()


def test_healthy_requests_are_served_while_a_slow_one_runs(target: Target, crowded_run: str):
    thread = threading.Thread(target=lambda: target.gql(SLOW))
    thread.start()
    try:
        time.sleep(0.2)
        target.assert_healthy()
    finally:
        thread.join()


@pytest.mark.sqlite_only  # SQLite's interrupt of a running statement (PostgreSQL: statement_timeout)
def test_an_interrupted_write_transaction_rolls_back_whole(tmp_path):
    from tasks_flowrun.server.storage.stores import open_database
    from tasks_flowrun.server.storage.rows import insert_rows, interruptible

    db = open_database(tmp_path / "interrupted.db")
    now = "2024-01-01T00:00:00.000000+00:00"
    heavy = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"
    stop_at = time.monotonic() + 0.2
    with pytest.raises((sqlite3.OperationalError, sa.exc.OperationalError)):
        with db.write() as conn:
            insert_rows(conn, "log", [{"id": "kept?", "timestamp": now, "created": now, "updated": now}])
            with interruptible(conn, lambda: time.monotonic() > stop_at):
                conn.exec_driver_sql(heavy).fetchall()
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM log")).scalar() == 0
    with db.write() as conn:  # no transaction left open: the next write works
        insert_rows(conn, "log", [{"id": "next", "timestamp": now, "created": now, "updated": now}])
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT id FROM log")).scalars().all() == ["next"]
    db.dispose()
