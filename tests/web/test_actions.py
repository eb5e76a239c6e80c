"""Cancel and restart from the run page, each behind a confirmation."""
from pathlib import Path

import pytest

from tasks_flowrun.demo.register import register_file
from tests.helpers import wait_until
from tests.server.support import GraphQL
from tests.web.browser import badge_state, screenshot, wait_js

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "parent_flows"


def states_of(gql: GraphQL, ids) -> dict:
    rows = gql.data("query($ids: [uuid!]) { flow_run(where: {id: {_in: $ids}}) { id state } }", {"ids": list(ids)})
    return {r["id"]: r["state"] for r in rows["flow_run"]}


def confirm(page, answer: str) -> None:
    dialog = page.locator("dialog[open]")
    dialog.wait_for()
    dialog.get_by_role("button", name=answer).click()


def test_cancel_from_the_page_cancels_the_run_and_its_children(page, server, client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    batches = [{"batch": i, "size": 10, "seconds": 120.0} for i in range(2)]
    run_id = client.create_flow_run(flow_id=flows["fan-out-parent"], parameters={"project": project, "batches": batches})
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    wait_js(page, "() => document.querySelectorAll('#tree .badge[data-state=Running]').length === 2", timeout=120)

    page.click("#cancel-run")
    confirm(page, "Keep it")  # the confirmation protects: nothing happens
    gql = GraphQL(server.url)
    assert states_of(gql, [run_id])[run_id] == "Running"
    page.click("#cancel-run")
    confirm(page, "Cancel run")
    page.wait_for_selector("#run-state .badge[data-state='Cancelled']", timeout=60_000)
    wait_js(page, "() => [...document.querySelectorAll('#tree .node .badge')].every(b => b.dataset.state === 'Cancelled')",
            timeout=60)
    screenshot(page, "cancelled")
    children = [li.get_attribute("data-run-id") for li in page.locator("#tree .tree-node").all()]
    assert len(children) == 2
    wait_until(lambda: set(states_of(gql, [run_id, *children]).values()) == {"Cancelled"}, timeout=30,
               what=lambda: states_of(gql, [run_id, *children]))
    assert page.locator("#restart-run").is_enabled()


def test_restart_from_the_page_schedules_the_failed_run_again(page, server, client, project) -> None:
    from prefect.engine.state import Failed

    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    # a label no agent has: the restarted run stays Scheduled for the test to see
    run_id = client.create_flow_run(flow_id=flows["fan-out-child"], labels=["web-test-nobody"])
    gql = GraphQL(server.url)
    gql.set_flow_run_state(run_id, Failed("boom"))
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    page.wait_for_selector("#run-state .badge[data-state='Failed']")
    assert page.locator("#cancel-run").is_disabled()
    page.click("#restart-run")
    confirm(page, "Restart run")
    page.wait_for_selector("#run-state .badge[data-state='Scheduled']")
    assert badge_state(page.locator("#state-history tbody tr").last.locator(".badge")) == "Scheduled"
    assert "Restarted from the web page" in page.locator("#state-history").text_content()
    assert states_of(gql, [run_id])[run_id] == "Scheduled"
