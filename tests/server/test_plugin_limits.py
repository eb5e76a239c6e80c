"""The plugin against the backend's limits: a refused request says which limit and what to do;
the first read of a run's logs fetches only its recent lines."""
import uuid

import pytest

from tasks_flowrun.client.errors import BackendRejectedError
from tasks_flowrun.client.flow_runs import read_flow_runs, send_create_flow_run
from tasks_flowrun.client.flows import ChildFlow
from tasks_flowrun.tasks.wait_loop import LOG_TAIL
from tests.server.support import GraphQL
from tests.stores import execute


def _child(flow) -> ChildFlow:
    return ChildFlow(flow_id=flow.id, name=flow.name, version=flow.version, flow_group_id=flow.flow_group_id,
                     version_group_id=flow.version_group_id, project_name=flow.project, pinned=True)


def test_a_too_large_create_names_the_limit_and_the_remedy(client, make_flow):
    flow = make_flow()
    with pytest.raises(BackendRejectedError) as caught:
        send_create_flow_run(client, _child(flow), {"parameters": {"blob": "x" * (17 * 1024 * 1024)}})
    message = str(caught.value)
    assert "HTTP 413" in message and "body of 17.8 MB" in message, message
    assert "16,777,216 bytes" in message and "pass smaller parameters" in message, message


def test_the_first_log_read_of_a_long_history_is_bounded_to_the_newest_lines(server_database, client, gql: GraphQL,
                                                                               make_flow):
    run_id = gql.create_flow_run(flow_id=make_flow().id)
    rows = []
    for i in range(3 * LOG_TAIL):
        stamp = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.{i:06d}+00:00"
        rows.append((str(uuid.uuid4()), run_id, stamp, "INFO", f"line {i}", stamp, stamp))
    execute(server_database, "INSERT INTO log (id, flow_run_id, timestamp, level, message, created, updated) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?)", many=rows)
    first = read_flow_runs(client, [run_id], with_logs=True, logs_tail=LOG_TAIL)[run_id]["logs"]
    assert len(first) == LOG_TAIL
    assert {log["message"] for log in first} == {f"line {i}" for i in range(2 * LOG_TAIL, 3 * LOG_TAIL)}
    later = read_flow_runs(client, [run_id], with_logs=True, logs_after=first[0]["timestamp"],
                           logs_tail=LOG_TAIL)[run_id]["logs"]
    assert later == []  # after the newest line: nothing new
