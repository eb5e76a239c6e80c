"""Argument checks that run before any request."""
import math

import pytest
from prefect.run_configs import LocalRun

from tasks_flowrun.tasks.validate import (
    check_json_object,
    check_labels,
    check_optional_str,
    check_uuid,
    serialize_run_config,
)


def test_json_objects():
    assert check_json_object(None, "p") is None
    assert check_json_object({"a": [1, {"b": None}]}, "p") == {"a": [1, {"b": None}]}
    for bad, match in [
        ({"a": object()}, "JSON-serializable"),
        ({"a": {1, 2}}, "JSON-serializable"),
        ({"a": math.nan}, "JSON-serializable"),
        ({1: "a"}, "keys must be strings"),
        ([1, 2], "must be a dict"),
    ]:
        with pytest.raises(TypeError, match=match):
            check_json_object(bad, "parameters")


def test_labels():
    assert check_labels(None) is None
    assert check_labels(("a", "b", "a")) == ["a", "b"]
    assert check_labels(x for x in ["z"]) == ["z"]
    with pytest.raises(TypeError, match="not a single string"):
        check_labels("abc")
    with pytest.raises(TypeError, match="only strings"):
        check_labels(["a", 1])
    with pytest.raises(TypeError, match="iterable"):
        check_labels(5)
    with pytest.raises(ValueError, match="empty"):
        check_labels(["a", " "])


def test_ids_and_strings():
    assert check_uuid(" 2a6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c ", "flow_id") == "2a6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c"
    with pytest.raises(ValueError, match="`flow_id` must be a UUID"):
        check_uuid("child", "flow_id")
    with pytest.raises(ValueError, match="id string"):
        check_uuid(42, "flow_id")
    assert check_optional_str(None, "run_name") is None
    with pytest.raises(ValueError, match="must not be empty"):
        check_optional_str("", "run_name")
    with pytest.raises(TypeError):
        check_optional_str(3, "run_name")


def test_run_config():
    assert serialize_run_config(LocalRun(env={"A": "1"}))["env"] == {"A": "1"}
    assert serialize_run_config(None) is None
    with pytest.raises(TypeError, match="RunConfig"):
        serialize_run_config({"type": "LocalRun"})
