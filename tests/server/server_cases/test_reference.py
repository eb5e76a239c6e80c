"""Prefect Server's tests/graphql/queries/test_reference.py, over HTTP: `reference_data`, the
state hierarchy and each state's color, asked without any credentials."""
import prefect
import requests


def reference(gql, field):
    # no Authorization header at all, as Server's "unauthenticated" case asks it
    resp = requests.post(gql.url, json={"query": "query { reference_data { %s } }" % field}, timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert not body.get("errors"), body
    return body["data"]["reference_data"][field]


def _check_hierarchy(hierarchy):
    for name in hierarchy:
        assert issubclass(getattr(prefect.engine.state, name), prefect.engine.state.State)
    assert set(hierarchy["Success"]) == {"Success", "Skipped", "Mapped", "Cached"}


def test_unauthenticated(gql):
    _check_hierarchy(reference(gql, "state_hierarchy"))


def test_state_hierarchy(gql):
    hierarchy = gql.data("query { reference_data { state_hierarchy } }")["reference_data"]["state_hierarchy"]
    _check_hierarchy(hierarchy)
    assert "Failed" in hierarchy["Finished"] and "Retrying" in hierarchy["Scheduled"]


def test_state_info(gql):
    info = reference(gql, "state_info")
    assert set(info) == set(reference(gql, "state_hierarchy"))
    for name, value in info.items():
        assert getattr(prefect.engine.state, name).color == value["color"]
