"""Small helpers for the Server cases: one mutation or row read over HTTP, and its answer."""
import json
from typing import Any, Dict, List, Optional

from tests.server.support import GraphQL, assert_clean_message


def mutate(gql: GraphQL, name: str, input_: Any, fields: str = "success", input_type: Optional[str] = None) -> Dict:
    """The whole JSON answer to `mutation($input: <name>_input!) { <name>(input: $input) { fields } }`."""
    input_type = input_type or f"{name}_input"
    resp = gql.post(f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {fields} }} }}", {"input": input_})
    assert resp.status_code in (200, 400), resp.text[:2000]
    return resp.json()


def ok(body: Dict, name: str) -> Any:
    """The payload of a mutation that must have succeeded."""
    assert not body.get("errors"), body.get("errors")
    return body["data"][name]


def error(body: Dict) -> str:
    """The first error message of a refused request (which must be readable)."""
    errors = body.get("errors")
    assert errors, f"expected an error, got {body}"
    message = errors[0]["message"]
    assert_clean_message(message)
    return message


def refused(body: Dict, name: str) -> str:
    """The error of a refused mutation whose payload is null, as Prefect Server answers it."""
    message = error(body)
    assert (body.get("data") or {}).get(name) is None, body
    return message


def row(gql: GraphQL, table: str, id_: str, fields: str) -> Optional[Dict]:
    """One row by primary key (None when it does not exist)."""
    return gql.data("query($id: uuid!) { %s_by_pk(id: $id) { %s } }" % (table, fields), {"id": id_})[f"{table}_by_pk"]


def rows(gql: GraphQL, table: str, where: Dict, fields: str, order_by: Optional[Dict] = None) -> List[Dict]:
    args = "where: %s" % _literal(where)
    if order_by:
        args += ", order_by: %s" % _literal(order_by)
    return gql.data("query { %s(%s) { %s } }" % (table, args, fields))[table]


def count(gql: GraphQL, table: str, where: Dict) -> int:
    answer = gql.data("query { %s_aggregate(where: %s) { aggregate { count } } }" % (table, _literal(where)))
    return answer[f"{table}_aggregate"]["aggregate"]["count"]


def _literal(value: Any) -> str:
    """A GraphQL input literal for a plain dict/list/scalar (keys unquoted, enum-like 'asc'/'desc' bare)."""
    if isinstance(value, dict):
        return "{%s}" % ", ".join(f"{k}: {_literal(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[%s]" % ", ".join(_literal(v) for v in value)
    if value in ("asc", "desc"):
        return value
    return json.dumps(value)


def create_flow(gql: GraphQL, project_id: str, serialized_flow: Dict, **input_: Any) -> str:
    """`create_flow` with a serialized flow, as Prefect Server's tests call it; the new flow's id."""
    body = mutate(gql, "create_flow", {"serialized_flow": serialized_flow, "project_id": project_id, **input_}, "id")
    return ok(body, "create_flow")["id"]


def set_flow_run_state(gql: GraphQL, flow_run_id: str, state: Any) -> None:
    body = mutate(gql, "set_flow_run_states", {"states": [{"flow_run_id": flow_run_id, "state": state.serialize()}]},
                  "states { id status }")
    assert ok(body, "set_flow_run_states")["states"][0]["status"] == "SUCCESS"


def set_task_run_state(gql: GraphQL, task_run_id: str, state: Any) -> None:
    body = mutate(gql, "set_task_run_states", {"states": [{"task_run_id": task_run_id, "state": state.serialize()}]},
                  "states { id status }")
    assert ok(body, "set_task_run_states")["states"][0]["status"] == "SUCCESS"


def get_or_create_task_run(gql: GraphQL, flow_run_id: str, task_id: str, map_index: Optional[int] = None) -> str:
    input_: Dict[str, Any] = {"flow_run_id": flow_run_id, "task_id": task_id}
    if map_index is not None:
        input_["map_index"] = map_index
    return ok(mutate(gql, "get_or_create_task_run_info", input_, "id"), "get_or_create_task_run_info")["id"]


def skipped_cases(cases: Dict[str, str]) -> Any:
    """A test that lists Prefect Server's cases not ported here, one skip (with its reason) each."""
    import pytest

    @pytest.mark.parametrize("case", sorted(cases))
    def test_server_case_not_ported(case: str) -> None:
        pytest.skip(f"{case}: {cases[case]}")

    return test_server_case_not_ported
