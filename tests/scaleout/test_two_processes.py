"""Two `tasks-flowrun server` processes on one PostgreSQL database behave as one backend:
one key makes one run whichever process is asked, a fan-out may talk to both, pushed waits
hear changes made through the other process, one process leads the background services,
and a process killed mid-stream loses no write it acknowledged."""
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List

import requests
from prefect.engine.state import Cancelled

from tests.helpers import prefect_env, start_agent, stop_process, wait_until
from tests.scaleout.conftest import ServerProcess, prefect_at
from tests.server.support import GraphQL, build_flow, run_prefect, unique

FLOWS = Path(__file__).parents[1] / "lifecycle" / "flows"
CREATE = "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }"


def _register_small_flow(url: str, tmp_path: Path) -> str:
    """A one-task flow registered through `url`; its runs carry no label any agent has."""
    from prefect import Client

    with prefect_at(url, tmp_path):
        client = Client(api_server=url)
        project = unique("scaleout")
        client.create_project(project)
        storage = tmp_path / "storage"
        storage.mkdir(exist_ok=True)
        flow = build_flow(unique("flow"), storage_dir=storage, labels=["nobody"])
        return client.register(flow, project_name=project, no_url=True)


def _create(session: requests.Session, url: str, flow_id: str, key: str) -> str:
    body = {"query": CREATE, "variables": json.dumps({"input": {"flow_id": flow_id, "idempotency_key": key}})}
    answer = session.post(url, json=body, timeout=30).json()
    assert "errors" not in answer, answer
    return answer["data"]["create_flow_run"]["id"]


def _runs_with_key(gql: GraphQL, key: str) -> List[str]:
    data = gql.data("query($k: String) { flow_run(where: {idempotency_key: {_eq: $k}}) { id } }", {"k": key})
    return [r["id"] for r in data["flow_run"]]


def test_concurrent_creates_with_one_key_through_both_processes_make_one_run(two_servers, tmp_path):
    a, b = two_servers
    flow_id = _register_small_flow(a.url, tmp_path)
    key = unique("one-key")
    barrier = threading.Barrier(8)
    ids: List[str] = []
    lock = threading.Lock()

    def client(number: int) -> None:
        session = requests.Session()
        barrier.wait()
        for i in range(50):
            run_id = _create(session, (a, b)[(number + i) % 2].url, flow_id, key)
            with lock:
                ids.append(run_id)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(ids) == 400
    assert len(set(ids)) == 1, f"{len(set(ids))} runs for one key"
    assert _runs_with_key(GraphQL(a.url), key) == [ids[0]] == _runs_with_key(GraphQL(b.url), key)


def test_a_fan_out_whose_parent_and_agent_talk_to_different_processes_completes(two_servers, tmp_path):
    """The parent runs (`prefect run --execute`) against process A and creates 20 children
    there; the agent that runs the children polls process B, and the children report to B."""
    from prefect import Client
    from prefect.run_configs import LocalRun
    from prefect.storage import Local
    from prefect.utilities.storage import extract_flow_from_file

    a, b = two_servers
    project = unique("split")
    with prefect_at(a.url, tmp_path):
        Client(api_server=a.url).create_project(project)
        for script, labels in (("lc_child.py", ["split-agent"]), ("lc_parent.py", ["no-agent-runs-parents"])):
            flow = extract_flow_from_file(file_path=str(FLOWS / script))
            flow.storage = Local(path=str(FLOWS / script), stored_as_script=True)
            flow.run_config = LocalRun(labels=labels)
            Client(api_server=a.url).register(flow, project_name=project, no_url=True)
    agent = start_agent(prefect_env(b.url, tmp_path), tmp_path / "agent.log", labels=["split-agent"])
    try:
        workdir = tmp_path / "work"
        workdir.mkdir()
        params = ["--param", "n=20", "--param", f"workdir={workdir}", "--param", f"project={project}"]
        done = run_prefect(["run", "--name", "lc-parent", "--project", project, *params, "--execute"],
                           prefect_env(a.url, tmp_path), timeout=240)
        assert done.returncode == 0, (done.stdout[-3000:], a.log()[-2000:], b.log()[-2000:])
    finally:
        stop_process(agent)
    gql = GraphQL(b.url)
    runs = gql.data('query { flow_run(where: {flow: {name: {_eq: "lc-child"}, project: {name: {_eq: "%s"}}}}) '
                    '{ state context idempotency_key } }' % project)["flow_run"]
    assert len(runs) == 20 and {r["state"] for r in runs} == {"Success"}, runs
    assert len({r["idempotency_key"] for r in runs}) == 20
    parent = gql.data('query { flow_run(where: {flow: {name: {_eq: "lc-parent"}, project: {name: {_eq: "%s"}}}}) '
                      '{ id state } }' % project)["flow_run"]
    assert [p["state"] for p in parent] == ["Success"]
    assert {r["context"]["parent_flow_run_id"] for r in runs} == {parent[0]["id"]}


def test_a_wait_held_by_one_process_hears_a_change_made_through_the_other(two_servers, tmp_path):
    a, b = two_servers
    flow_id = _register_small_flow(a.url, tmp_path)
    run_id = GraphQL(a.url).create_flow_run(flow_id=flow_id)
    first = requests.post(a.url + "/watch", json={"flow_run_ids": [run_id], "token": None, "timeout": 0}).json()
    answer: Dict = {}

    def watch() -> None:
        body = {"flow_run_ids": [run_id], "token": first["token"], "timeout": 30}
        answer.update(requests.post(a.url + "/watch", json=body, timeout=40).json(), at=time.monotonic())

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(1.0)
    assert not answer, "the watch returned before anything changed"
    changed_at = time.monotonic()
    GraphQL(b.url).set_flow_run_state(run_id, Cancelled("through b"))
    watcher.join(40)
    assert answer.get("changed") == [run_id], answer
    assert answer["at"] - changed_at < 5.0


def test_a_token_from_one_process_is_understood_by_the_other(two_servers, tmp_path):
    """Behind a load balancer a wait's next request may reach another process: an unchanged
    run is not reported as changed there (no storm of re-reads), a changed one is."""
    a, b = two_servers
    flow_id = _register_small_flow(a.url, tmp_path)
    run_id = GraphQL(a.url).create_flow_run(flow_id=flow_id)
    time.sleep(2.5)  # past the margin for clock skew between processes
    token = requests.post(a.url + "/watch", json={"flow_run_ids": [run_id], "token": None, "timeout": 0}).json()["token"]
    quiet = requests.post(b.url + "/watch", json={"flow_run_ids": [run_id], "token": token, "timeout": 1}).json()
    assert quiet["changed"] == [], quiet
    GraphQL(a.url).set_flow_run_state(run_id, Cancelled("through a"))
    heard = requests.post(b.url + "/watch", json={"flow_run_ids": [run_id], "token": token, "timeout": 10}).json()
    assert heard["changed"] == [run_id], heard


def test_one_process_at_a_time_leads_the_background_services(shared_database):
    from tasks_flowrun.server.storage.stores import open_database

    first, second = open_database(shared_database), open_database(shared_database)
    try:
        assert [first.leads(), second.leads()] == [True, False]
        assert first.leads() and not second.leads()  # the lead is kept, not re-contested
        first.dispose()  # its process ends: PostgreSQL releases the lock with the connection
        assert wait_until(second.leads, timeout=10, what="the other process to take the lead")
    finally:
        first.dispose()
        second.dispose()


def test_a_process_killed_mid_stream_loses_no_acknowledged_write(shared_database, tmp_path):
    """Clients create runs through both processes; one is SIGKILLed midway and the clients
    carry on through the other (retrying the unanswered create with its key). Every create
    that was answered is stored, and every key has exactly one run."""
    a, b = ServerProcess(shared_database, tmp_path, "a"), ServerProcess(shared_database, tmp_path, "b")
    try:
        flow_id = _register_small_flow(b.url, tmp_path)
        acknowledged: Dict[str, str] = {}
        lock = threading.Lock()
        started = threading.Event()

        def client(number: int) -> None:
            session = requests.Session()
            for i in range(60):
                key = f"{number}-{i}-{uuid.uuid4().hex[:6]}"
                for url in ((a.url, b.url) if i % 2 == 0 else (b.url,)):
                    try:
                        run_id = _create(session, url, flow_id, key)
                        break
                    except requests.RequestException:
                        continue  # that process is gone: the same create through the other
                with lock:
                    acknowledged[key] = run_id
                if i == 10:
                    started.set()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        assert started.wait(60)
        a.kill()
        for thread in threads:
            thread.join(180)
        assert len(acknowledged) == 240
        gql = GraphQL(b.url)
        stored = gql.data("query($f: uuid) { flow_run(where: {flow_id: {_eq: $f}}) { id idempotency_key } }",
                          {"f": flow_id})["flow_run"]
        assert {r["idempotency_key"]: r["id"] for r in stored} == acknowledged
        assert len(stored) == 240
    finally:
        a.stop()
        b.stop()


def test_a_flow_process_polling_one_server_process_is_known_to_the_others(shared_database):
    """The recovery sweep runs in one process; it must know that a flow process polled
    another one (its proof of life beyond heartbeats)."""
    from tasks_flowrun.server.api.liveness import RunnerPolls
    from tasks_flowrun.server.storage.stores import open_database

    databases = [open_database(shared_database), open_database(shared_database)]
    polls = [RunnerPolls(), RunnerPolls()]
    try:
        for db, registry in zip(databases, polls):
            db.share_polls(registry)
        run_id = str(uuid.uuid4())
        polls[0].saw(run_id)
        assert wait_until(lambda: polls[1].last(run_id), timeout=10, what="the other process to hear of the poll")
        assert abs((polls[1].last(run_id) - polls[0].last(run_id)).total_seconds()) < 0.001
    finally:
        for db in databases:
            db.dispose()


def test_two_agents_racing_for_one_run_through_both_processes_submit_it_once(two_servers, tmp_path):
    """The Submitted lock across processes: of agents submitting the same queued run at
    once through either process, exactly one succeeds."""
    from prefect.engine.state import Submitted

    a, b = two_servers
    flow_id = _register_small_flow(a.url, tmp_path)
    for _ in range(5):
        run_id = GraphQL(a.url).create_flow_run(flow_id=flow_id)
        barrier = threading.Barrier(8)
        outcomes: List[bool] = []

        def submit(number: int) -> None:
            barrier.wait()
            resp = GraphQL((a, b)[number % 2].url).set_flow_run_state(run_id, Submitted(f"agent {number}"))
            outcomes.append(resp.ok and not resp.json().get("errors"))

        threads = [threading.Thread(target=submit, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == [False] * 7 + [True], outcomes


def test_health_reports_the_store_and_fails_when_the_database_is_gone(shared_database, tmp_path, postgres_admin_url):
    """What a load balancer in front of several processes checks: 200 while the database
    answers, 503 once it does not."""
    import psycopg

    server = ServerProcess(shared_database, tmp_path, "health")
    try:
        assert requests.get(server.url + "/health", timeout=10).json() == {"status": "ok", "store": "postgresql"}
        name = shared_database.rsplit("/", 1)[1]
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute("ALTER DATABASE %s ALLOW_CONNECTIONS false" % name)  # a name we made: safe to inline
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            gone = requests.get(server.url + "/health", timeout=20)
            assert gone.status_code == 503 and gone.json()["status"] == "unavailable", gone.text
        finally:
            with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
                admin.execute("ALTER DATABASE %s ALLOW_CONNECTIONS true" % name)
        assert wait_until(lambda: requests.get(server.url + "/health", timeout=10).ok, timeout=30,
                          what="the health check to recover with the database")
    finally:
        server.stop()
