"""The HTTP layer: bodies, encodings, non-finite numbers, cross-site posts, floods and slow clients."""
import json
import socket
import threading
import time
import uuid

import pytest
import requests

from tests.helpers import read_http_message
from tests.server.attacks.support import HEADER_TIMEOUT, Target, refused, timed

PROJECT = "mutation($input: create_project_input!) { create_project(input: $input) { id } }"
MB = 1024 * 1024


def _projects(target: Target, name: str) -> list:
    return target.data("query($n: String) { project(where: {name: {_eq: $n}}) { id } }", {"n": name})["project"]


def test_a_declared_oversized_body_is_refused_before_it_is_read(target: Target):
    resp = timed(lambda: target.post(None, raw=b"x" * (17 * MB)))
    refused(resp, 413, "too large", "16,777,216")
    target.assert_healthy()


def test_a_chunked_oversized_body_is_refused_while_streaming(target: Target):
    def chunks():
        for _ in range(64):  # 64 MiB if the server kept reading
            yield b" " * MB

    resp = timed(lambda: requests.post(target.url, data=chunks(), headers={"Content-Type": "application/json"},
                                       timeout=30), 5.0)
    refused(resp, 413, "too large")
    target.assert_healthy()


def test_invalid_utf8_is_a_400(target: Target):
    raw = b'{"query": "query { project(where: {name: {_eq: \\"\xff\xfe\\"}}) { id } }"}'
    refused(timed(lambda: target.post(None, raw=raw)), 400, "malformed")
    target.assert_healthy()


@pytest.mark.parametrize("where", ["variables", "query"])
def test_lone_surrogates_are_refused_and_nothing_is_stored(target: Target, where: str):
    name = f"surrogate-{uuid.uuid4().hex[:6]}"
    if where == "variables":
        raw = json.dumps({"query": PROJECT, "variables": {"input": {"name": name + "\ud800"}}}).encode()
        refused(timed(lambda: target.post(None, raw=raw)), 400, "surrogate")
    else:
        query = 'mutation { create_project(input: {name: "%s\\ud800"}) { id } }' % name
        resp = timed(lambda: target.post({"query": query}))
        assert resp.status_code in (200, 400), resp.text
        assert resp.json()["errors"], resp.text
    assert _projects(target, name) == [] and _projects(target, name + "\ud83d\ude80") == []
    target.assert_healthy()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_in_variables_are_refused(target: Target, number: str):
    before = target.run_count()
    variables = '{"input": {"flow_id": "%s", "parameters": {"deep": [{"x": %s}]}}}' % (target.flow_id, number)
    for raw in (json.dumps({"query": "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) "
                                     "{ id } }", "variables": variables}).encode(),
                ('{"query": "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }", '
                 '"variables": %s}' % variables).encode()):
        body = refused(timed(lambda: target.post(None, raw=raw)), 400)
        message = body["errors"][0]["message"]
        assert number.lstrip("-") in message or "finite" in message, message
    assert target.run_count() == before
    target.assert_healthy()


def test_non_finite_numbers_in_a_json_string_argument_are_refused(target: Target):
    before = target.run_count()
    query = ('mutation { create_flow_run(input: {flow_id: "%s", parameters: "{\\"x\\": [NaN]}"}) { id } }'
             % target.flow_id)
    resp = timed(lambda: target.post({"query": query}))
    assert resp.status_code in (200, 400)
    assert "NaN" in resp.json()["errors"][0]["message"]
    query = 'mutation { create_flow_run(input: {flow_id: "%s", parameters: {x: 1e400}}) { id } }' % target.flow_id
    resp = timed(lambda: target.post({"query": query}))
    assert resp.json()["errors"], resp.text
    assert target.run_count() == before
    target.assert_healthy()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_a_cross_site_simple_post_is_refused_and_runs_nothing(target: Target, content_type):
    name = f"csrf-{uuid.uuid4().hex[:6]}"
    raw = json.dumps({"query": PROJECT, "variables": {"input": {"name": name}}}).encode()
    headers = {"Content-Type": content_type} if content_type else {"Content-Type": ""}
    resp = timed(lambda: requests.post(target.url, data=raw, headers=headers, timeout=10))
    refused(resp, 415, "application/json")
    resp = timed(lambda: target.post(None, raw=raw, headers={"Origin": "https://evil.example"}))
    refused(resp, 403, "origin")
    assert _projects(target, name) == []


def test_prefects_client_sends_json(target: Target):
    """The real Client posts `application/json`: the cross-site rule never refuses it."""
    from prefect import Client
    from prefect.utilities.configuration import set_temporary_config

    with set_temporary_config({"backend": "server", "server.endpoint": target.url, "cloud.api": target.url}):
        seen = {}
        original = requests.Session.request

        def spy(self, method, url, **kwargs):
            resp = original(self, method, url, **kwargs)
            seen["content-type"] = resp.request.headers.get("Content-Type")
            return resp

        requests.Session.request = spy
        try:
            assert Client(api_server=target.url).graphql("query { hello }").data.hello
        finally:
            requests.Session.request = original
    assert seen["content-type"] == "application/json"


def test_unknown_paths_and_methods_answer_json(target: Target):
    for resp in (requests.get(target.url + "/nope", timeout=5), requests.get(target.url + "/", timeout=5),
                 requests.delete(target.url + "/graphql", timeout=5)):
        assert resp.status_code in (404, 405), resp.status_code
        assert resp.json()["errors"][0]["message"]


def _half_open(target: Target, body_declared: int = 100) -> socket.socket:
    """A connection that sends its headers, then never its body."""
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % body_declared)
    return sock


def test_a_flood_past_64_requests_in_flight_gets_a_503_and_the_server_stays_healthy(target: Target):
    socks = [_half_open(target) for _ in range(64)]
    try:
        time.sleep(0.3)
        resp = timed(lambda: target.gql("query { hello }"))
        refused(resp, 503, "busy", "64")
        assert resp.headers.get("retry-after") == "1"
        assert requests.get(target.url + "/health", timeout=2).ok
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.3)
    target.assert_healthy()


def test_a_body_that_never_comes_times_out_with_a_json_error(target: Target):
    sock = _half_open(target)
    try:
        sock.settimeout(10)
        started = time.monotonic()
        answer = read_http_message(sock)
        assert b" 408 " in answer.split(b"\r\n", 1)[0] and b'"errors"' in answer, answer
        assert time.monotonic() - started < 5
    finally:
        sock.close()
    target.assert_healthy()


def test_a_connection_that_never_finishes_its_headers_is_closed(target: Target):
    socks = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", target.port), timeout=10)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        socks.append(sock)
    try:
        started = time.monotonic()
        for sock in socks:
            assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < HEADER_TIMEOUT + 3
    finally:
        for sock in socks:
            sock.close()
    target.assert_healthy()


def test_many_slow_clients_at_once_leave_normal_requests_fast(target: Target):
    stop = threading.Event()

    def dribble():
        with socket.create_connection(("127.0.0.1", target.port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
            while not stop.is_set():
                try:
                    sock.sendall(b"X-A: b\r\n")
                except OSError:
                    return
                time.sleep(0.2)

    threads = [threading.Thread(target=dribble) for _ in range(30)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        target.assert_healthy()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
