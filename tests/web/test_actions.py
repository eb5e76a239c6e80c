"""Cancel and restart from the run page, each behind a confirmation, each offered only when it
applies (no Cancel on a finished run, no Restart on one that is not failed or cancelled)."""
import json
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
    wait_js(page, "() => document.getElementById('cancel-run').hidden")  # finished: nothing to cancel
    assert page.locator("#restart-run").is_visible() and page.locator("#restart-run").is_enabled()


def test_restart_from_the_page_schedules_the_failed_run_again(page, server, client, project) -> None:
    from prefect.engine.state import Failed

    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    # a label no agent has: the restarted run stays Scheduled for the test to see
    run_id = client.create_flow_run(flow_id=flows["fan-out-child"], labels=["web-test-nobody"])
    gql = GraphQL(server.url)
    gql.set_flow_run_state(run_id, Failed("boom"))
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    page.wait_for_selector("#run-state .badge[data-state='Failed']")
    assert page.locator("#cancel-run").is_hidden()
    page.click("#restart-run")
    confirm(page, "Restart run")
    page.wait_for_selector("#run-state .badge[data-state='Scheduled']")
    assert badge_state(page.locator("#state-history tbody tr").last.locator(".badge")) == "Scheduled"
    assert "Restarted from the web page" in page.locator("#state-history").text_content()
    assert states_of(gql, [run_id])[run_id] == "Scheduled"
    wait_js(page, "() => document.getElementById('restart-run').hidden")  # scheduled again: cancel only
    assert page.locator("#cancel-run").is_visible()


def offered(page) -> tuple:
    """The actions the run page shows right now: ('cancel',), ('restart',), () ..."""
    return tuple(name for name in ("cancel", "restart") if page.locator(f"#{name}-run").is_visible())


def wait_offered(page, state: str, expected: tuple) -> None:
    page.wait_for_selector(f"#run-state .badge[data-state='{state}']", timeout=30_000)
    wait_js(page, "() => true")  # the refresh that drew the badge drew the buttons too
    assert offered(page) == expected, f"{state}: the page offers {offered(page)}, expected {expected}"


def test_the_page_offers_only_the_actions_that_apply(page, server, client, project) -> None:
    from prefect.engine.state import Cancelled, Failed, Running, Scheduled, Submitted, Success

    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    gql = GraphQL(server.url)
    # labels no agent has: the states below are the test's alone
    run_id = client.create_flow_run(flow_id=flows["fan-out-child"], labels=["web-test-nobody"])
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    wait_offered(page, "Scheduled", ("cancel",))
    gql.set_flow_run_state(run_id, Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(run_id, Running("started"))
    wait_offered(page, "Running", ("cancel",))  # running: no Restart
    gql.set_flow_run_state(run_id, Success("done"))
    wait_offered(page, "Success", ())  # finished well: nothing to offer, no empty button row
    assert page.locator(".actions").is_hidden()
    for state, final in (("Failed", Failed("boom")), ("Cancelled", Cancelled("stopped"))):
        other = client.create_flow_run(flow_id=flows["fan-out-child"], labels=["web-test-nobody"])
        gql.set_flow_run_state(other, final)
        page.goto(f"{server.url}/default/flow-run/{other}")
        wait_offered(page, state, ("restart",))  # finished: no Cancel
    screenshot(page, "actions-restart-only")


def test_an_action_that_no_longer_applies_when_confirmed_does_nothing(page, server, client, project) -> None:
    """The page is a refresh behind the backend: a run that changed while the confirmation was
    open is left as it is, and the page says why."""
    from prefect.engine.state import Failed, Running, Scheduled, Submitted, Success

    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    gql = GraphQL(server.url)
    run_id = client.create_flow_run(flow_id=flows["fan-out-child"], labels=["web-test-nobody"])
    gql.set_flow_run_state(run_id, Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(run_id, Running("started"))
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    wait_offered(page, "Running", ("cancel",))
    page.click("#cancel-run")
    page.locator("dialog[open]").wait_for()
    gql.set_flow_run_state(run_id, Success("finished meanwhile"))
    confirm(page, "Cancel run")
    wait_js(page, "() => document.getElementById('action-outcome').textContent.includes('Nothing to cancel')")
    assert "already ended Success" in page.locator("#action-outcome").text_content()
    assert states_of(gql, [run_id])[run_id] == "Success"

    failed = client.create_flow_run(flow_id=flows["fan-out-child"], labels=["web-test-nobody"])
    gql.set_flow_run_state(failed, Failed("boom"))
    page.goto(f"{server.url}/default/flow-run/{failed}")
    wait_offered(page, "Failed", ("restart",))
    page.click("#restart-run")
    page.locator("dialog[open]").wait_for()
    gql.set_flow_run_state(failed, Scheduled("restarted elsewhere"))
    gql.set_flow_run_state(failed, Submitted("taken", state=Scheduled()))
    gql.set_flow_run_state(failed, Running("running again"))
    confirm(page, "Restart run")
    wait_js(page, "() => document.getElementById('action-outcome').classList.contains('error')")
    assert "the run is Running now" in page.locator("#action-outcome").text_content()
    assert states_of(gql, [failed])[failed] == "Running"
    assert "Restarted from the web page" not in json.dumps(gql.flow_run(failed)["states"])
