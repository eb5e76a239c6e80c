"""`POST /watch`: held until a watched run changes (or its time is up), answered at once for
a change already made since the token; JSON errors for bad requests; behind the API key."""
import threading
import time

import pytest
import requests
from prefect.engine.state import Running, Success

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.test_recovery import Backend
from tests.stores import fresh_database


@pytest.fixture
def api(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "watch")) as server:
        yield Backend(server.url)


def _watch(url, ids, token=None, timeout=5.0, logs=False, **kwargs):
    body = {"flow_run_ids": ids, "token": token, "timeout": timeout, "logs": logs}
    return requests.post(url + "/watch", json=body, timeout=timeout + 10, **kwargs)


def test_no_token_answers_every_run_then_a_change_wakes_a_held_request(api):
    run_id, other = api.new_run(), api.new_run()
    first = _watch(api.url, [run_id, other]).json()
    assert sorted(first["changed"]) == sorted([run_id, other]) and first["token"]

    timer = threading.Timer(0.5, lambda: api.set(run_id, Running("go")))
    timer.start()
    started = time.monotonic()
    answer = _watch(api.url, [run_id, other], token=first["token"]).json()
    took = time.monotonic() - started
    timer.join()
    assert answer["changed"] == [run_id]
    assert 0.4 < took < 2.0, took  # woken by the change, not by the 5 s timeout


def test_a_change_made_before_the_request_answers_at_once(api):
    run_id = api.new_run()
    token = _watch(api.url, [run_id]).json()["token"]
    api.set(run_id, Running("go"))
    started = time.monotonic()
    assert _watch(api.url, [run_id], token=token).json()["changed"] == [run_id]
    assert time.monotonic() - started < 1.0


def test_quiet_runs_are_held_until_the_timeout_and_other_runs_do_not_wake_them(api):
    watched, busy = api.new_run(), api.new_run()
    token = _watch(api.url, [watched]).json()["token"]
    threading.Timer(0.3, lambda: api.set(busy, Running("not watched"))).start()
    started = time.monotonic()
    answer = _watch(api.url, [watched], token=token, timeout=1.5).json()
    assert answer["changed"] == [] and 1.4 < time.monotonic() - started < 3.0


def test_logs_wake_only_the_requests_that_ask_for_them(api):
    run_id = api.new_run()
    token = _watch(api.url, [run_id]).json()["token"]
    requests.post(api.url, json={"query": "mutation($input: write_run_logs_input!) "
                                          "{ write_run_logs(input: $input) { success } }",
                                 "variables": {"input": {"logs": [{"flow_run_id": run_id, "message": "hi"}]}}},
                  timeout=10).raise_for_status()
    assert _watch(api.url, [run_id], token=token, timeout=0.5).json()["changed"] == []
    assert _watch(api.url, [run_id], token=token, timeout=0.5, logs=True).json()["changed"] == [run_id]


@pytest.mark.parametrize("body, what", [
    ({"flow_run_ids": []}, "non-empty list"),
    ({"flow_run_ids": "abc"}, "non-empty list"),
    ({"flow_run_ids": ["a"], "timeout": 600}, "from 0 to 60"),
    ({"flow_run_ids": ["a"], "token": 5}, "'token'"),
    ([1, 2], "JSON object"),
])
def test_bad_requests_get_a_json_error(api, body, what):
    answer = requests.post(api.url + "/watch", json=body, timeout=10)
    assert answer.status_code == 400 and what in answer.json()["errors"][0]["message"]


def test_a_cross_site_form_post_is_refused(api):
    answer = requests.post(api.url + "/watch", data="flow_run_ids=a", timeout=10,
                           headers={"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert answer.status_code in (403, 415) and answer.json()["errors"]


def test_the_api_key_is_required_when_set(tmp_path):
    with EmbeddedServer(database=fresh_database(tmp_path, "k"), api_key="sesame") as server:
        assert _watch(server.url, ["a"], timeout=0).status_code == 401
        ok = _watch(server.url, ["a"], timeout=0, headers={"Authorization": "Bearer sesame"})
        assert ok.status_code == 200 and ok.json()["changed"] == ["a"]


def test_a_backend_started_without_pushed_changes_has_no_watch_endpoint(tmp_path):
    from tasks_flowrun.server.settings import ServerSettings

    settings = ServerSettings(port=0, database=fresh_database(tmp_path, "p"), push_changes=False)
    with EmbeddedServer(settings=settings) as server:
        assert _watch(server.url, ["a"], timeout=0).status_code in (404, 405)


def test_success_state_of_a_finished_run_wakes_too(api):
    run_id = api.new_run()
    token = _watch(api.url, [run_id]).json()["token"]
    api.set(run_id, Success("done"))
    assert _watch(api.url, [run_id], token=token, timeout=1).json()["changed"] == [run_id]
