"""One guard for every route: each answers a missing or wrong API key the same way (HTTP 200,
a GraphQL error coded UNAUTHENTICATED, which Prefect's client raises as AuthorizationError with
its message), and only the health check and the web page's files are public."""
import prefect
import pytest
import requests
from prefect.exceptions import AuthorizationError

from tasks_flowrun.server.embedded import EmbeddedServer
from tasks_flowrun.server.http.guard import UNAUTHENTICATED
from tests.stores import fresh_database

KEY = "guard-key"
PROTECTED = [("POST", "/", {"query": "query { hello }"}), ("POST", "/graphql", {"query": "query { hello }"}),
             ("POST", "/watch", {"flow_run_ids": ["a"], "timeout": 0}), ("GET", "/stats", None),
             ("GET", "/metrics", None)]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    database = fresh_database(tmp_path_factory.mktemp("guard"), "keyed")
    with EmbeddedServer(database=database, api_key=KEY) as server:
        yield server


def _call(server, method, path, body, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.request(method, server.url + path, json=body, headers=headers, timeout=10)


@pytest.mark.parametrize("method, path, body", PROTECTED)
@pytest.mark.parametrize("key", [None, "wrong"])
def test_every_protected_route_refuses_a_missing_or_wrong_key_the_same_way(keyed, method, path, body, key):
    answer = _call(keyed, method, path, body, key)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"errors": [{"message": UNAUTHENTICATED, "extensions": {"code": "UNAUTHENTICATED"}}]}


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_every_protected_route_serves_the_right_key(keyed, method, path, body):
    answer = _call(keyed, method, path, body, KEY)
    assert answer.status_code == 200, answer.text
    assert b"UNAUTHENTICATED" not in answer.content


def test_the_health_check_and_the_web_page_are_public(keyed):
    assert requests.get(keyed.url + "/health", timeout=10).json()["status"] == "ok"
    page = requests.get(keyed.url + "/", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_prefect_client_says_what_is_wrong(keyed):
    client = prefect.Client(api_server=keyed.url, api_key="wrong")
    with pytest.raises(AuthorizationError, match="missing or wrong API key"):
        client.graphql("query { hello }")


def test_every_route_goes_through_the_guard(keyed):
    for route in keyed.app.routes:
        assert getattr(route.endpoint, "guard_policy", None) is not None, f"{route.path} is not behind the guard"
