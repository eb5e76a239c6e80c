"""The run page of a real fan-out (embedded backend + real agent): the children as a tree
with every child's state, states changing live without a reload, logs tailing live."""
import re
from pathlib import Path

import pytest

from tasks_flowrun.demo.register import register_file
from tests.helpers import wait_until
from tests.web.browser import badge_state, screenshot, wait_js

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "parent_flows"
TIMEOUT = 180.0


def tree_states(page) -> dict:
    """{run name: state} of every node of the tree, as the page shows them."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#tree .tree-node')].map(
        (li) => [li.querySelector('.node-link').textContent, li.querySelector('.node .badge').dataset.state]))""")


def test_fan_out_shows_as_a_live_tree(page, server, client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    batches = [{"batch": i, "size": 10, "seconds": 2.0} for i in range(4)]
    run_id = client.create_flow_run(flow_id=flows["fan-out-parent"], run_name=f"tree-{project}",
                                    parameters={"project": project, "batches": batches})
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    page.evaluate("window.sameDocument = true")  # survives only if the page never reloads
    parent_states, child_states, shots = [], {}, []

    def finished() -> bool:
        state = badge_state(page.locator("#run-state .badge"))
        if not parent_states or parent_states[-1] != state:
            parent_states.append(state)
        for name, child_state in tree_states(page).items():
            seen = child_states.setdefault(name, [])
            if not seen or seen[-1] != child_state:
                seen.append(child_state)
        now = set(tree_states(page).values())
        if len(now) > 1 and "Running" in now and not shots:  # mid-run: the README's picture
            shots.append(screenshot(page, "fan-out-tree-live", full_page=False))
        return state in ("Success", "Failed")

    wait_until(finished, timeout=TIMEOUT, interval=0.2, what=lambda: f"the parent to finish: {parent_states}")
    wait_js(page, "() => document.querySelectorAll('#tree .tree-node').length === 4")
    wait_until(lambda: set(tree_states(page).values()) == {"Success"}, timeout=10, what=lambda: tree_states(page))
    screenshot(page, "fan-out-tree")

    assert parent_states[-1] == "Success" and len(parent_states) >= 2, parent_states  # e.g. Running -> Success
    assert len(child_states) == 4
    assert any(len(states) >= 2 for states in child_states.values()), child_states  # a child changed on the page
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"
    summary = page.locator("#tree-summary").text_content()
    assert "4/4 Success" in summary, summary
    for node in page.locator("#tree .tree-node").all():  # each node: state text, a duration, task progress
        assert node.locator(".badge").text_content().strip().endswith("Success")
        assert node.locator(".duration").text_content().endswith("s")
        assert re.fullmatch(r"tasks: (\d+)/\1 Success", node.locator(".progress").text_content())
    # keyboard: Tab reaches the tree's nodes
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.classList.contains('node-link')"):
            break
    else:
        raise AssertionError("Tab never reached a node of the tree")
    # the tree's links lead to each child's page, whose parent link leads back
    page.locator("#tree .node-link").first.click()
    page.wait_for_selector("#parents a[href$='%s']" % run_id)
    assert "crunch" in page.locator("#task-runs").text_content()


def test_logs_tail_live(page, server, client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    run_id = client.create_flow_run(flow_id=flows["fan-out-child"], parameters={"batch": 7, "size": 10, "seconds": 4.0})
    page.goto(f"{server.url}/default/flow-run/{run_id}")
    page.evaluate("window.sameDocument = true")
    page.wait_for_selector("#run-state .badge[data-state='Running']", timeout=TIMEOUT * 1000)
    assert "batch 7: total" not in page.locator("#log-lines").text_content()  # the task is still sleeping
    page.wait_for_selector("#log-lines li:has-text('batch 7: total 745')", timeout=60_000)
    assert page.evaluate("window.sameDocument") is True, "the page reloaded"

    page.select_option("#log-level", label="ERROR and above")
    assert page.locator("#log-lines li:has-text('batch 7')").count() == 0
    page.select_option("#log-level", label="All levels")
    page.fill("#log-search", "total 745")
    lines = page.locator("#log-lines li")
    wait_until(lambda: lines.count() == 1, timeout=5, what=lambda: lines.all_text_contents())
    screenshot(page, "logs")
