"""A backend with an API key: the page asks for the key once, then shows data; nothing before."""
import uuid

import pytest

from tasks_flowrun.server.embedded import EmbeddedServer
from tests.server.support import GraphQL
from tests.stores import fresh_database
from tests.web.browser import screenshot

KEY = "web-test-" + uuid.uuid4().hex


@pytest.fixture
def keyed_server(tmp_path):
    with EmbeddedServer(port=0, database=fresh_database(tmp_path, "keyed"), api_key=KEY) as srv:
        yield srv


def test_the_page_asks_for_the_key_then_shows_data(page, keyed_server) -> None:
    gql = GraphQL(keyed_server.url)
    gql.headers["Authorization"] = f"Bearer {KEY}"
    gql.data('mutation { create_project(input: {name: "secret-project"}) { id } }')

    page.goto(keyed_server.url + "/default/flows")
    page.wait_for_selector("dialog[open] #api-key")
    assert "secret-project" not in page.content()  # no data without the key
    screenshot(page, "api-key-prompt")

    page.fill("#api-key", "wrong")
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("dialog[open] >> text=That key was refused")
    page.fill("#api-key", KEY)
    page.click("dialog[open] button[type=submit]")
    page.wait_for_selector("text=secret-project")

    page.goto(keyed_server.url + "/")  # kept for the tab: no second prompt
    page.wait_for_selector("main[data-loaded=true]")
    assert page.locator("dialog[open]").count() == 0
    assert page.evaluate("sessionStorage.length") == 1 and page.evaluate("localStorage.length") == 0
