"""Batched GraphQL over HTTP, as apollo-link-batch-http (the Prefect UI's link) sends it."""
from typing import Any, Dict, List

import requests

from tasks_flowrun.server.http.batch import MAX_OPERATIONS
from tests.server.support import assert_clean_message

HELLO = {"operationName": "Hello", "query": "query Hello { hello }", "variables": {}}


def post(url: str, body: Any, **headers: str) -> requests.Response:
    return requests.post(url + "/graphql", json=body, headers={"Content-Type": "application/json", **headers},
                         timeout=30)


def codes(result: Dict[str, Any]) -> List[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def test_a_batch_answers_an_array_in_order_each_operation_on_its_own(ui_backend):
    batch = [
        HELLO,
        {"query": "query Tenants { tenant { id slug } }"},
        {"query": "query Broken { no_such_field }"},  # invalid: fails alone
        {"query": "query Syntax { hello"},  # unparsable: fails alone
        {"query": "query Runs($limit: Int) { flow_run(limit: $limit) { id } }", "variables": {"limit": 1}},
        {"query": "query Vars($id: uuid!) { flow_run_by_pk(id: $id) { id } }", "variables": '{"id": "nope"}'},
        {"query": 'mutation { delete_project(input: {project_id: "00000000-0000-0000-0000-000000000000"}) '
                  "{ success } }"},
    ]
    resp = post(ui_backend.url, batch)
    assert resp.status_code == 200, resp.text
    results = resp.json()
    assert isinstance(results, list) and len(results) == len(batch)
    assert results[0] == {"data": {"hello": "👋"}}
    assert results[1]["data"]["tenant"][0]["slug"] == "default"
    assert codes(results[2]) == ["GRAPHQL_VALIDATION_FAILED"]
    assert codes(results[3]) == ["GRAPHQL_PARSE_FAILED"]
    assert results[4] == {"data": {"flow_run": []}}
    assert results[5].get("errors"), results[5]
    assert results[6] == {"data": {"delete_project": {"success": False}}}  # a write in the batch, on its own
    for result in results:
        for error in result.get("errors", []):
            assert_clean_message(error["message"])


def test_a_single_operation_is_answered_as_before(ui_backend):
    resp = post(ui_backend.url, HELLO)
    assert resp.status_code == 200 and resp.json() == {"data": {"hello": "👋"}}


def test_the_summed_cost_of_a_batch_is_held_to_the_limit(ui_backend):
    # each asks for 90,000 rows (allowed alone); three together ask for 270,000 > 200,000
    costly = {"query": "query { flow_run(limit: 90000) { id } }"}
    assert post(ui_backend.url, [costly, costly]).status_code == 200
    resp = post(ui_backend.url, [HELLO, costly, costly, costly])
    assert resp.status_code == 400, resp.text
    (error,) = resp.json()["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert "Batch too costly" in error["message"] and "270,000" in error["message"]
    assert_clean_message(error["message"])


def test_the_summed_fields_of_a_batch_are_held_to_the_limit(ui_backend):
    wide = {"query": "query { " + " ".join(f"a{i}: hello" for i in range(400)) + " }"}
    assert post(ui_backend.url, [wide, wide]).status_code == 200
    resp = post(ui_backend.url, [wide, wide, wide])
    assert resp.status_code == 400
    assert "1,200 fields" in resp.json()["errors"][0]["message"]


def test_too_many_operations_are_refused_with_a_clear_error(ui_backend):
    assert post(ui_backend.url, [HELLO] * MAX_OPERATIONS).status_code == 200
    resp = post(ui_backend.url, [HELLO] * (MAX_OPERATIONS + 1))
    assert resp.status_code == 400
    (error,) = resp.json()["errors"]
    assert error["extensions"]["code"] == "BATCH_REFUSED"
    assert f"{MAX_OPERATIONS + 1} > limit {MAX_OPERATIONS}" in error["message"]


def test_a_batch_holding_something_else_than_operations_is_malformed(ui_backend):
    resp = post(ui_backend.url, [HELLO, "not an operation"])
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["message"].startswith("Malformed request: operation 2 of the batch")


def test_an_empty_batch_is_refused(ui_backend):
    resp = post(ui_backend.url, [])
    assert resp.status_code == 400 and resp.json()["errors"][0]["extensions"]["code"] == "BATCH_REFUSED"


def test_a_batch_obeys_the_body_limit_and_the_cross_site_rule(ui_backend):
    limit = ui_backend.settings.max_request_bytes
    huge = [{"query": "query { hello }", "variables": {"pad": "x" * (limit // 2)}}] * 3
    assert post(ui_backend.url, huge).status_code == 413
    resp = requests.post(ui_backend.url + "/graphql", data='[{"query": "query { hello }"}]',
                         headers={"Content-Type": "text/plain", "Origin": "https://evil.example"}, timeout=30)
    assert resp.status_code == 403


def test_a_batch_with_a_mutation_writes(ui_backend):
    name = "batched-project"
    resp = post(ui_backend.url, [
        {"query": "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
         "variables": {"input": {"name": name}}},
        HELLO,
    ])
    results = resp.json()
    assert results[0]["data"]["create_project"]["id"] and results[1] == {"data": {"hello": "👋"}}
    found = post(ui_backend.url, {"query": '{ project(where: {name: {_eq: "%s"}}) { id } }' % name}).json()
    assert found["data"]["project"] == [{"id": results[0]["data"]["create_project"]["id"]}]
