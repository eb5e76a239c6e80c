"""`tasks-flowrun server` serves the page itself: its start line names it, browsers get HTML
with a strict CSP on `GET /` and on Prefect's run URLs, GraphQL stays on `POST /`, and
only the page's own origin may post."""
import re
import subprocess
import sys
import uuid

import pytest
import requests

from tasks_flowrun.server.web.routes import CSP
from tests.stores import fresh_database


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The real command in a subprocess; its URL from the start line (log lines, such as the
    recovery grace period's, may come before it)."""
    db = fresh_database(tmp_path_factory.mktemp("served"), "served")
    proc = subprocess.Popen([sys.executable, "-m", "tasks_flowrun.cli", "server", "--port", "0", "--database", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while len(lines) < 10 and not lines[-1:] == [""]:
            lines.append(proc.stdout.readline())
            if lines[-1].startswith("tasks-flowrun server:"):
                break
        match = re.search(r"web page at (http://127\.0\.0\.1:\d+)/;", lines[-1])
        assert match, f"no web page address in the start line: {lines!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_browsers_get_the_page_and_clients_the_api(served) -> None:
    html = {"Accept": "text/html,application/xhtml+xml"}
    for path in ("/", f"/default/flow-run/{uuid.uuid4()}", "/default/flows"):
        page = requests.get(served + path, headers=html, timeout=10)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["content-security-policy"] == CSP and "script-src 'self'" in CSP
        assert page.headers["x-content-type-options"] == "nosniff"
        assert '<script type="module" src="/ui/app.js">' in page.text
    script = requests.get(served + "/ui/app.js", timeout=10)
    assert script.headers["content-type"].startswith("text/javascript")
    assert requests.get(served + "/ui/app.js", headers={"If-None-Match": script.headers["etag"]}).status_code == 304
    assert requests.get(served + "/ui/missing.js", timeout=10).status_code == 404
    assert requests.get(served + "/ui/..%2Fapp.py", timeout=10).status_code == 404
    not_html = requests.get(served + "/", timeout=10)  # GET / is still no API
    assert not_html.status_code == 405 and not_html.json()["errors"]
    answer = requests.post(served + "/", json={"query": "{ hello }"}, timeout=10)
    assert answer.status_code == 200 and "data" in answer.json()


def test_only_the_pages_own_origin_may_post(served) -> None:
    body = {"query": "{ flow_run(limit: 1) { id } }"}
    own = requests.post(served + "/", json=body, headers={"Origin": served}, timeout=10)
    assert own.status_code == 200 and "data" in own.json()
    other = requests.post(served + "/", json=body, headers={"Origin": "http://evil.example"}, timeout=10)
    assert other.status_code == 403
    port = served.rsplit(":", 1)[1]
    rebound = requests.post(served + "/", json=body, timeout=10,  # a DNS name pointed at this port
                            headers={"Origin": f"http://evil.example:{port}", "Host": f"evil.example:{port}"})
    assert rebound.status_code == 403
    as_form = requests.post(served + "/", data="query={hello}", timeout=10,
                            headers={"Origin": served, "Content-Type": "application/x-www-form-urlencoded"})
    assert as_form.status_code == 415
