"""`create_flow_runs`: many runs with few requests on the embedded backend (one transaction
per chunk, all or none), one request per run on a backend without the bulk mutation."""
import uuid

import pytest
from prefect.exceptions import ClientError

from tasks_flowrun.client import BackendRejectedError, create_flow_runs
from tasks_flowrun.client import bulk_create, queries
from tests.client.test_client_backend import register


def _runs(flow_id: str, keys: list) -> list:
    return [{"flow_id": flow_id, "parameters": {"x": i}, "idempotency_key": key, "labels": ["nobody-here"]}
            for i, key in enumerate(keys)]


def _stored(client, keys: list) -> dict:
    rows = client.graphql(
        {"query($keys: [String!])": {"flow_run(where: {idempotency_key: {_in: $keys}})": {
            "id", "idempotency_key", "parameters", "state"}}}, variables={"keys": keys}).data.flow_run
    return {row.idempotency_key: row for row in rows}


def test_many_runs_in_one_request_per_chunk_in_order(client, project, requests_counter):
    flow_id = register(project)
    keys = [f"bulk-{uuid.uuid4().hex[:8]}-{i}" for i in range(bulk_create.BULK_CHUNK + 20)]
    with requests_counter() as counted:
        ids = create_flow_runs(client, _runs(flow_id, keys))
    assert counted.requests == 2 and set(counted.fields) == {"create_flow_runs"}
    stored = _stored(client, keys)
    assert len(ids) == len(set(ids)) == len(keys) == len(stored)
    for i, (key, run_id) in enumerate(zip(keys, ids)):
        assert stored[key].id == run_id and stored[key].parameters["x"] == i and stored[key].state == "Scheduled"


def test_sending_the_list_again_returns_the_same_runs_and_creates_none(client, project):
    flow_id = register(project)
    keys = [f"again-{uuid.uuid4().hex[:8]}-{i}" for i in range(30)]
    first = create_flow_runs(client, _runs(flow_id, keys))
    more = [f"again-new-{uuid.uuid4().hex[:8]}"]
    second = create_flow_runs(client, _runs(flow_id, keys + more))
    assert second[:30] == first and second[30] not in first
    assert len(_stored(client, keys + more)) == 31


def test_one_refused_run_creates_none_of_its_chunk_and_names_it(client, project):
    flow_id = register(project)
    keys = [f"refused-{uuid.uuid4().hex[:8]}-{i}" for i in range(10)]
    runs = _runs(flow_id, keys)
    del runs[7]["parameters"]  # the child's `x` is required
    with pytest.raises(BackendRejectedError, match=r"flow_runs\[7\].*Required parameters.*No run of this request"):
        create_flow_runs(client, runs)
    assert _stored(client, keys) == {}


def test_a_backend_without_the_bulk_mutation_gets_one_create_per_run(client, project, requests_counter,
                                                                     monkeypatch):
    # what the client remembers after a backend said it has no create_flow_runs
    monkeypatch.setattr(bulk_create, "_lacks_bulk", {str(client.api_server)})
    flow_id = register(project)
    keys = [f"single-{uuid.uuid4().hex[:8]}-{i}" for i in range(5)]
    with requests_counter() as counted:
        ids = create_flow_runs(client, _runs(flow_id, keys))
    assert counted.requests == 5 and set(counted.fields) == {"create_flow_run"}
    assert [_stored(client, keys)[key].id for key in keys] == ids


def test_an_unknown_mutation_is_recognised_as_a_backend_without_it(client):
    # the refusal graphql-core (which Prefect Server's API also runs on) gives for a field it does not know
    with pytest.raises(ClientError) as refused:
        client.graphql("mutation { create_flow_runs_from_the_future(input: {}) { ids } }")
    text = str(refused.value)
    assert "Cannot query field" in text
    assert bulk_create.lacks_bulk_create(ClientError(text.replace("create_flow_runs_from_the_future", "create_flow_runs")))
    assert not bulk_create.lacks_bulk_create(ValueError("create_flow_runs: Required parameters were not supplied"))


def test_a_chunk_larger_than_the_backend_takes_is_sent_in_halves(client, tmp_path):
    import prefect
    from prefect.storage import Local
    from prefect.utilities.storage import extract_flow_from_file

    from tasks_flowrun.server.embedded import EmbeddedServer
    from tasks_flowrun.server.settings import ServerSettings
    from tests.stores import fresh_database
    from tests.tasks.conftest import FLOWS

    settings = ServerSettings(port=0, database=fresh_database(tmp_path, "small-bodies"), max_request_bytes=20_000)
    with EmbeddedServer(settings=settings) as srv:
        small = prefect.Client(api_server=srv.url)
        small.create_project("bulk-small")
        flow = extract_flow_from_file(file_path=str(FLOWS / "child.py"))
        flow.storage = Local(path=str(FLOWS / "child.py"), stored_as_script=True)
        flow_id = small.register(flow, project_name="bulk-small", no_url=True)
        keys = [f"halves-{i}" for i in range(100)]
        runs = [{**run, "parameters": {"x": i, "padding": "p" * 500}} for i, run in enumerate(_runs(flow_id, keys))]
        assert len(str(runs)) > 2 * settings.max_request_bytes  # one request could not hold them
        ids = create_flow_runs(small, runs)
        stored = _stored(small, keys)
        assert [stored[key].id for key in keys] == ids and len(set(ids)) == 100
        assert srv.stats.snapshot()["fields"]["create_flow_runs"] >= 3  # 56 kB in requests of at most 20 kB


def test_a_run_that_is_not_a_dict_is_refused_before_any_request(client, requests_counter):
    with requests_counter() as counted:
        with pytest.raises(TypeError, match=r"runs\[1\] is a str: each run is a dict"):
            create_flow_runs(client, [{"flow_id": str(uuid.uuid4())}, "flow-id"])
    assert counted.requests == 0


def test_the_backend_refuses_more_runs_than_one_request_may_hold(client, project):
    from tasks_flowrun.server.graphql.resolvers.runs import MAX_RUNS_PER_CREATE

    flow_id = register(project)
    keys = [f"too-many-{uuid.uuid4().hex[:8]}-{i}" for i in range(MAX_RUNS_PER_CREATE + 1)]
    with pytest.raises(ClientError, match="at most 1,000 runs per request, got 1,001"):
        client.graphql(queries.CREATE_FLOW_RUNS, variables={"input": {"flow_runs": _runs(flow_id, keys)}})
    assert _stored(client, keys[:10]) == {}
