"""Units of the UI-only resolvers: Hasura's `_uuid` literals and the downstream traversal."""
import uuid

import pytest

from tasks_flowrun.server.graphql.errors import UserError
from tasks_flowrun.server.graphql.resolvers.ui import downstream_depths, parse_uuid_array


def test_uuid_array_literals():
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    assert parse_uuid_array("{%s,%s}" % (a, b.upper())) == [a, b]
    assert parse_uuid_array("{}") == [] and parse_uuid_array([a]) == [a]
    for bad in ("%s" % a, "{not-a-uuid}", 5):
        with pytest.raises(UserError):
            parse_uuid_array(bad)


def test_downstream_depth_is_the_deepest_path_and_bounded():
    # a -> b -> c, a -> c (c is 2 deep, not 1), c -> d; x is elsewhere
    edges = [{"upstream_task_id": u, "downstream_task_id": d}
             for u, d in (("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("x", "a"))]
    assert downstream_depths({"a"}, edges, 50) == {"a": 0, "b": 1, "c": 2, "d": 3}
    assert downstream_depths({"a"}, edges, 1) == {"a": 0, "b": 1, "c": 1}
    assert downstream_depths({"d"}, edges, 50) == {"d": 0}
