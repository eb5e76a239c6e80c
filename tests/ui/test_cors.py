"""CORS for `--cors-origin` origins only: preflight, response headers, and the cross-site rule."""
import requests

from tasks_flowrun.cli import build_parser
from tasks_flowrun.server.http.cors import ALLOWED_HEADERS
from tests.ui.conftest import UI_ORIGIN

EVIL = "https://evil.example"
# what the Prefect UI's Apollo links add to every request (src/vue-apollo.js)
UI_HEADERS = ("content-type", "x-prefect-ui", "x-backend", "x-prefect-tenant-id", "x-prefect-user-id",
              "x-frame-options", "x-content-type-options", "x-permitted-cross-domain-policies",
              "content-security-policy")


def preflight(url: str, origin: str) -> requests.Response:
    return requests.options(url + "/graphql", timeout=10, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ",".join(UI_HEADERS)})


def cors_headers(resp: requests.Response) -> dict:
    return {k.lower(): v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}


def test_preflight_of_a_listed_origin_allows_the_ui_headers(ui_backend):
    resp = preflight(ui_backend.url, UI_ORIGIN)
    assert resp.status_code == 200, resp.text  # Starlette's CORSMiddleware answers a granted preflight 200 OK
    assert resp.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "Origin" in resp.headers["vary"]
    assert "POST" in resp.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in resp.headers["access-control-allow-headers"].split(",")}
    assert set(UI_HEADERS) | {"authorization"} <= allowed
    assert "access-control-allow-credentials" not in {k.lower() for k in resp.headers}


def test_answers_to_a_listed_origin_carry_its_origin_errors_included(ui_backend):
    headers = {"Origin": UI_ORIGIN, "Content-Type": "application/json", "X-Prefect-UI": "true"}
    ok = requests.post(ui_backend.url + "/graphql", json=[{"query": "query Api { hello }"}], headers=headers,
                       timeout=10)
    assert ok.status_code == 200 and ok.json() == [{"data": {"hello": "👋"}}]
    assert ok.headers["access-control-allow-origin"] == UI_ORIGIN and "Origin" in ok.headers["vary"]
    bad = requests.post(ui_backend.url + "/graphql", data="{", headers=headers, timeout=10)
    assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == UI_ORIGIN


def test_an_unlisted_origin_gets_no_cors_headers_and_stays_refused(ui_backend):
    resp = preflight(ui_backend.url, EVIL)
    assert resp.status_code != 204 and not cors_headers(resp)
    for content_type in ("text/plain", "application/json"):
        post = requests.post(ui_backend.url + "/graphql", data='{"query": "mutation { hello }"}', timeout=10,
                             headers={"Origin": EVIL, "Content-Type": content_type})
        assert post.status_code == 403, post.text
        assert not cors_headers(post)
    # a near miss is another origin
    near = preflight(ui_backend.url, UI_ORIGIN + "0")
    assert not cors_headers(near)


def test_without_cors_origins_nothing_changes(server):
    resp = preflight(server.url, UI_ORIGIN)
    assert resp.status_code == 405 and not cors_headers(resp)
    post = requests.post(server.url + "/graphql", data='{"query": "{ hello }"}', timeout=10,
                         headers={"Origin": UI_ORIGIN, "Content-Type": "text/plain"})
    assert post.status_code == 403 and not cors_headers(post)


def test_the_allowed_headers_cover_the_ui():
    assert set(UI_HEADERS) <= set(ALLOWED_HEADERS)


def test_cors_origin_option_is_repeatable_and_checked():
    parser = build_parser()
    args = parser.parse_args(["server", "--cors-origin", "http://LocalHost:8080/", "--cors-origin",
                              "https://ui.example.com"])
    assert args.cors_origins == ["http://localhost:8080", "https://ui.example.com"]
    assert parser.parse_args(["server"]).cors_origins is None  # not given: $TASKS_FLOWRUN_CORS_ORIGINS, else none
    for bad in ("*", "localhost:8080", "http://localhost:8080/path", "ftp://x"):
        try:
            parser.parse_args(["server", "--cors-origin", bad])
        except SystemExit as exc:
            assert exc.code == 2
        else:
            raise AssertionError(f"{bad!r} was accepted")
