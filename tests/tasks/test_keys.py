"""The default idempotency key, run name and parent record (pure functions of the context)."""
import datetime

from prefect import Flow, task

from tasks_flowrun.tasks.keys import default_idempotency_key, default_run_name, parent_context

CTX = {"flow_run_id": "fr-1", "flow_run_name": "parent", "task_run_id": "tr-1", "task_slug": "create_flow_run-1"}


def test_key_is_stable_and_distinct_per_map_index_and_task():
    keys = {default_idempotency_key({**CTX, "map_index": i}) for i in range(5)}
    assert len(keys) == 5
    assert default_idempotency_key({**CTX, "map_index": 3}) == default_idempotency_key({**CTX, "map_index": 3})
    other_task = default_idempotency_key({**CTX, "task_slug": "create_flow_run-2"})
    assert other_task != default_idempotency_key(CTX)
    # the task run id does not enter the key: restarts that re-create task runs keep it
    assert default_idempotency_key({**CTX, "task_run_id": "tr-2"}) == default_idempotency_key(CTX)


def test_key_for_unmapped_task_and_loops():
    assert default_idempotency_key({**CTX, "map_index": None}) == "fr-1:create_flow_run-1"
    assert default_idempotency_key({**CTX, "map_index": -1}) == "fr-1:create_flow_run-1"
    assert default_idempotency_key({**CTX, "task_loop_count": 1}) == "fr-1:create_flow_run-1"
    assert default_idempotency_key({**CTX, "task_loop_count": 2}) == "fr-1:create_flow_run-1#2"


def test_key_without_flow_run():
    assert default_idempotency_key({"task_run_id": "tr-9"}) == "tr-9"
    assert default_idempotency_key({}) is None


def test_run_name():
    assert default_run_name("child", CTX) == "parent-child"
    assert default_run_name("child", {**CTX, "map_index": 4}) == "parent-child-4"
    assert default_run_name("child", {}) is None


def test_parent_record():
    assert parent_context({**CTX, "map_index": 2}) == {
        "parent_flow_run_id": "fr-1",
        "parent_task_run_id": "tr-1",
        "parent_map_index": 2,
    }
    assert parent_context(CTX) == {"parent_flow_run_id": "fr-1", "parent_task_run_id": "tr-1"}
    assert parent_context({}) == {}


ATTEMPTS = []


@task
def key_of(x):
    return default_idempotency_key(), default_run_name("child")


@task(max_retries=1, retry_delay=datetime.timedelta(seconds=0))
def flaky_key():
    ATTEMPTS.append(default_idempotency_key())
    if len(ATTEMPTS) == 1:
        raise RuntimeError("first attempt fails")
    return ATTEMPTS[-1]


def test_local_flow_run_keys_are_distinct_per_map_index_and_stable_across_retries():
    with Flow("local-keys") as flow:
        mapped = key_of.map([1, 2, 3])
        retried = flaky_key()
    first = flow.run()
    results = first.result[mapped].result
    keys = [k for k, _ in results]
    names = [n for _, n in results]
    assert len(set(keys)) == 3 and len(set(names)) == 3
    assert [n.rsplit("-", 1)[1] for n in names] == ["0", "1", "2"]
    assert first.result[retried].is_successful()
    assert len(ATTEMPTS) == 2 and ATTEMPTS[0] == ATTEMPTS[1]
    # a new local run is a new parent: new keys
    second = flow.run()
    assert not set(keys) & {k for k, _ in second.result[mapped].result}
