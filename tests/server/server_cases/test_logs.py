"""Prefect Server's tests/graphql/test_logs.py, over HTTP: write_run_logs for flow runs and task
runs, with every option, diverse batches, invalid levels, a batch with a log lacking its flow run."""
import pendulum

from tests.server.server_cases.calls import count, error, mutate, ok, rows

LOG_FIELDS = "message info timestamp name level task_run_id"


def write(gql, logs):
    return mutate(gql, "write_run_logs", {"logs": logs})


def logs_of(gql, where):
    found = rows(gql, "log", where, LOG_FIELDS)
    for log in found:
        log["timestamp"] = pendulum.parse(log["timestamp"])
    return found


def test_create_flow_run_logs(gql, flow_run_id):
    assert ok(write(gql, [{"flow_run_id": flow_run_id, "message": "test"} for _ in range(10)]),
              "write_run_logs")["success"] is True
    logs = logs_of(gql, {"flow_run_id": {"_eq": flow_run_id}})
    assert len(logs) == 10
    assert all(log["message"] == "test" for log in logs)
    assert all(log["task_run_id"] is None for log in logs)


def test_create_task_run_logs(gql, flow_run_id, task_run_id):
    logs = [{"flow_run_id": flow_run_id, "task_run_id": task_run_id, "message": "test"} for _ in range(14)]
    assert ok(write(gql, logs), "write_run_logs")["success"] is True
    logs = logs_of(gql, {"task_run_id": {"_eq": task_run_id}})
    assert len(logs) == 14
    assert all(log["message"] == "test" for log in logs)


def test_create_logs_with_options(gql, flow_run_id):
    timestamp = pendulum.datetime(2019, 1, 1, 1, 1, 1)
    info = {"a": [1, 2, 3]}
    payload = {"flow_run_id": flow_run_id, "message": "test", "level": "CRITICAL", "name": "test-logger",
               "info": info, "timestamp": timestamp.isoformat()}
    assert ok(write(gql, [payload] * 6), "write_run_logs")["success"] is True
    logs = logs_of(gql, {"flow_run_id": {"_eq": flow_run_id}})
    assert len(logs) == 6
    assert all(log["message"] == "test" for log in logs)
    assert all(log["info"] == info for log in logs)
    assert all(log["timestamp"] == timestamp for log in logs)
    assert all(log["name"] == "test-logger" for log in logs)
    assert all(log["level"] == "CRITICAL" for log in logs)


def test_create_logs_with_invalid_level_fails(gql, flow_run_id):
    body = write(gql, [{"flow_run_id": flow_run_id, "message": "test", "level": "bad-level"}])
    assert "got invalid value 'bad-level'" in error(body)
    assert count(gql, "log", {"flow_run_id": {"_eq": flow_run_id}}) == 0


def test_diverse_payloads(gql, flow_run_id):
    levels = ["ERROR", "CRITICAL", "INFO", "INFO"]
    names = ["test-logger", "foo", "bar", "chris"]
    timestamps = [pendulum.datetime(2019, i + 1, 1, 1, 1, 1) for i in range(4)]
    infos = [{letter: list(range(i + 1))} for i, letter in enumerate("abcd")]
    messages = ["do", "rae", "me", "fa"]
    payloads = [{"flow_run_id": flow_run_id, "message": messages[i], "level": levels[i], "name": names[i],
                 "info": infos[i], "timestamp": timestamps[i].isoformat()} for i in range(4)]
    ok(write(gql, payloads), "write_run_logs")
    logs = logs_of(gql, {"flow_run_id": {"_eq": flow_run_id}})
    assert len(logs) == 4
    assert {log["message"] for log in logs} == set(messages)
    assert {log["level"] for log in logs} == set(levels)
    assert {log["name"] for log in logs} == set(names)
    assert {log["timestamp"] for log in logs} == set(timestamps)
    assert sorted((log["info"] for log in logs), key=str) == sorted(infos, key=str)


def test_create_flow_run_logs_requires_flow_run_id_for_all_logs(gql, flow_run_id):
    logs = [{"flow_run_id": flow_run_id, "message": "test"} for _ in range(9)]
    logs.append({"flow_run_id": None, "message": "test"})
    message = error(write(gql, logs))
    assert "got invalid value None at 'input.logs[9].flow_run_id'" in message
    assert "Expected non-nullable type 'UUID!' not to be None" in message
    assert count(gql, "log", {"flow_run_id": {"_eq": flow_run_id}}) == 0


def test_every_level_of_servers_log_level_enum_is_stored(gql, flow_run_id):
    """Beyond Server's own file: the levels Server's `log_level` enum has."""
    levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    ok(write(gql, [{"flow_run_id": flow_run_id, "message": level, "level": level} for level in levels]),
       "write_run_logs")
    assert sorted(log["level"] for log in logs_of(gql, {"flow_run_id": {"_eq": flow_run_id}})) == sorted(levels)


def test_a_log_level_outside_servers_enum_is_refused(gql, flow_run_id):
    """Beyond Server's own file: `level` is Server's `log_level` enum, so its exact names only."""
    for level in ("info", "WARN", "NOTSET"):
        assert f"got invalid value '{level}'" in error(write(gql, [{"flow_run_id": flow_run_id, "level": level}]))
    assert count(gql, "log", {"flow_run_id": {"_eq": flow_run_id}}) == 0
