"""Flows and projects, and "run this flow": a double click creates one run."""
from pathlib import Path

import pytest

from tasks_flowrun.demo.register import register_file
from tests.server.support import GraphQL
from tests.web.browser import screenshot

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "parent_flows"


def test_run_this_flow_with_parameters_makes_one_run_on_a_double_click(page, server, client, project, agent) -> None:
    flows = register_file(client, EXAMPLES / "fan_out.py", project)
    page.goto(server.url + "/default/flows")
    section = page.get_by_role("region", name=f"Project {project}")
    section.get_by_role("link", name="fan-out-child").click()
    page.wait_for_selector("#run-submit")
    page.fill("input[name=batch]", "3")
    page.fill("input[name=seconds]", "0.1")
    page.fill("#run-name", f"clicked-{project}")
    screenshot(page, "flow-page")
    page.dblclick("#run-submit")
    page.wait_for_url("**/default/flow-run/*")
    run_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector("#run-state .badge[data-state='Success']", timeout=120_000)

    gql = GraphQL(server.url)
    runs = gql.data("query($f: uuid!) { flow_run(where: {flow_id: {_eq: $f}}) { id name parameters } }",
                    {"f": flows["fan-out-child"]})["flow_run"]
    assert [r["id"] for r in runs] == [run_id]
    assert runs[0]["name"] == f"clicked-{project}" and runs[0]["parameters"]["batch"] == 3
    assert runs[0]["parameters"]["seconds"] == 0.1
