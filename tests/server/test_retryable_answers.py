"""Requests the backend could not serve through no fault of their own are answered so that
Prefect's client sends them again, instead of failing the flow run that sent them:

- a request in flight while the server process was suspended (SIGSTOP) longer than the
  request time budget keeps its whole budget after the suspension (the budget counts work,
  not time the process did not run);
- a request that found the database unavailable (PostgreSQL stopped) gets HTTP 503 (no
  `Retry-After`, so the client backs off for about a minute) and the code DATABASE_UNAVAILABLE, which Prefect's client retries; once the
  database is back, the same request succeeds.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from tasks_flowrun.server.graphql.budget import Budget
from tests.helpers import stop_process, wait_until
from tasks_flowrun.net import free_port
from tests.postgres_cluster import Cluster


PROJECT = "mutation($input: create_project_input!) { create_project(input: $input) { id } }"


def test_a_budget_restarts_after_the_process_resumes_from_a_stall():
    stall = {"at": None}
    budget = Budget(0.2, lambda: stall["at"])
    time.sleep(0.3)
    assert budget.stopped() and "time budget" in (budget.reason or "")  # no stall: spent

    budget = Budget(0.2, lambda: stall["at"])
    time.sleep(0.3)
    stall["at"] = time.monotonic()  # the process just resumed after not running
    assert not budget.stopped()  # a whole budget again, from the resumption
    time.sleep(0.3)
    assert budget.stopped()  # and no more than that


def test_a_budget_found_spent_stays_spent_whatever_stall_is_seen_after():
    """A statement stopped for the budget must be reported as a timeout: the budget asked
    again afterwards (by the error handler) cannot come back to life."""
    stall = {"at": None}
    budget = Budget(0.2, lambda: stall["at"])
    time.sleep(0.3)
    assert budget.stopped()
    stall["at"] = time.monotonic()
    assert budget.stopped() and "time budget" in (budget.reason or "")


def test_a_stall_before_the_request_started_gives_it_nothing_more():
    before = time.monotonic() - 5
    budget = Budget(0.2, lambda: before)
    time.sleep(0.3)
    assert budget.stopped()


@pytest.mark.sqlite_only
def test_requests_in_flight_across_a_suspension_longer_than_their_budget_succeed(tmp_path):
    """Writes wait for the SQLite write lock (held by the test) or, behind them, for a writer
    thread, when the server process is stopped for longer than the 10 s request budget;
    continued and unblocked, every one completes."""
    database = tmp_path / "stall.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "tasks_flowrun.cli", "server", "--port", str(port),
                               "--database", str(database)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: requests.get(url + "/health", timeout=1).ok, timeout=30, what="the server")
        blocker = sqlite3.connect(str(database), timeout=30)
        blocker.execute("BEGIN IMMEDIATE")  # the server's writes wait for this lock
        answers = {}

        def create(name: str) -> None:
            answers[name] = requests.post(url, json={"query": PROJECT, "variables": json.dumps(
                {"input": {"name": name}})}, timeout=60)

        names = [f"made-across-a-stall-{i}" for i in range(4)]  # more than the writer threads
        threads = [threading.Thread(target=create, args=(name,)) for name in names]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # all in flight: two waiting for the lock, the others for a writer
        os.kill(server.pid, signal.SIGSTOP)
        time.sleep(12)  # longer than the 10 s request budget
        blocker.rollback()
        blocker.close()
        os.kill(server.pid, signal.SIGCONT)
        for thread in threads:
            thread.join(timeout=60)
        for name in names:
            response = answers[name]
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body, body
            assert body["data"]["create_project"]["id"]
    finally:
        try:
            os.kill(server.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        stop_process(server)


@pytest.fixture
def cluster(postgres_admin_url):  # (skips on the SQLite run)
    own = Cluster().start()
    try:
        yield own
    finally:
        own.stop()


def test_a_request_that_finds_the_database_down_gets_a_503_and_succeeds_once_it_is_back(cluster):
    from tasks_flowrun.server.embedded import EmbeddedServer
    from tasks_flowrun.server.settings import ServerSettings

    settings = ServerSettings(port=0, database=cluster.create_database("down"))
    with EmbeddedServer(settings=settings) as server:
        body = {"query": PROJECT, "variables": json.dumps({"input": {"name": "made-after-an-outage"}})}
        cluster.halt()
        try:
            refused = requests.post(server.url, json=body, timeout=30)
            assert refused.status_code == 503, refused.text
            # no Retry-After: Prefect's client would wait only that long between its 6 retries
            # (giving up within seconds) instead of backing off for about a minute
            assert "Retry-After" not in refused.headers
            errors = refused.json()["errors"]
            assert [e["extensions"]["code"] for e in errors] == ["DATABASE_UNAVAILABLE"], errors
            assert "send it again" in errors[0]["message"]
        finally:
            cluster.resume()
        # what Prefect's client does on a 503: send the same request again after a pause
        answered = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
            requests.post(server.url, json=body, timeout=30)), timeout=60, interval=1.0, what="the database back")
        assert answered.json()["data"]["create_project"]["id"]


def test_a_write_whose_connection_the_database_drops_mid_transaction_is_retryable(postgres_admin_url, tmp_path):
    """PostgreSQL restarting (or failing over) ends the server's connections inside their
    transactions: the write fails with an error the backend answers as DATABASE_UNAVAILABLE
    (which Prefect's client retries), not as an internal error of the cleanup that follows."""
    import psycopg
    import sqlalchemy as sa

    from tasks_flowrun.server.storage.database import database_unavailable
    from tasks_flowrun.server.storage.stores import open_database
    from tests.stores import fresh_database

    db = open_database(fresh_database(tmp_path, "dropped"))
    try:
        with pytest.raises(Exception) as raised:
            with db.write() as conn:
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
                with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                conn.execute(sa.text("SELECT 1"))
        assert database_unavailable(raised.value), repr(raised.value)
        with db.write() as conn:  # the next write gets a fresh connection
            assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        db.dispose()


def test_a_stopping_server_pauses_recovery_at_once_and_stops_within_seconds(tmp_path):
    """SIGTERM: from the moment the server is asked to stop it hears no flow run, so it judges
    none dead (it says so), and it answers held requests at once: a held /watch (a waiter's,
    an agent's) would otherwise keep it, and its recovery, up for a minute."""
    from tests.stores import fresh_database

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "tasks_flowrun.cli", "server", "--port", str(port),
                               "--database", str(fresh_database(tmp_path, "stopping"))],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: requests.get(url + "/health", timeout=1).ok, timeout=30, what="the server")
        runs = {"flow_run_ids": [str(uuid.uuid4())]}
        queue = {"queue": True}
        answers = {}

        def hold(name, body):
            token = requests.post(url + "/watch", json={**body, "timeout": 0}, timeout=10).json()["token"]
            answers[name] = requests.post(url + "/watch", json={**body, "token": token, "timeout": 60}, timeout=90)
            answers[name + " after"] = time.monotonic()

        holders = [threading.Thread(target=hold, args=(name, body), daemon=True)
                   for name, body in (("runs", runs), ("queue", queue))]
        for holder in holders:
            holder.start()
        time.sleep(1.5)
        assert not answers, f"a request with a fresh token was not held: {answers}"
        asked = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=90)
        assert time.monotonic() - asked < 10
        assert server.returncode == 0
        for holder in holders:
            holder.join(timeout=10)
        assert answers["runs"].json()["changed"] == [] and answers["queue"].json()["due"] is False, answers
        assert max(answers["runs after"], answers["queue after"]) - asked < 5
        assert "Recovery paused: the backend is shutting down" in server.stdout.read()
    finally:
        stop_process(server)


def test_an_embedded_server_started_again_after_a_stop_holds_requests_again(tmp_path):
    """A stop answers held requests and closes the change feed; the same app started again
    holds them again (it would otherwise answer every /watch at once, and its clients spin)."""
    from tasks_flowrun.server.embedded import EmbeddedServer
    from tests.stores import fresh_database

    server = EmbeddedServer(database=fresh_database(tmp_path, "again")).start()
    try:
        server.stop()
        server.start()
        watch = {"flow_run_ids": [str(uuid.uuid4())]}
        token = requests.post(server.url + "/watch", json={**watch, "timeout": 0}, timeout=10).json()["token"]
        asked = time.monotonic()
        answer = requests.post(server.url + "/watch", json={**watch, "token": token, "timeout": 1}, timeout=10)
        assert answer.json()["changed"] == [] and time.monotonic() - asked >= 0.9
    finally:
        server.stop()
