"""The default idempotency key, run name and parent record (pure functions of the context)."""
import datetime

import pendulum
import prefect
from prefect import Flow, task
from prefect.schedules import Schedule
from prefect.schedules.clocks import DatesClock

from tasks_flowrun.tasks.keys import CallCounter, default_idempotency_key, default_run_name, parent_context
from tests.helpers import run_at_once

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


def test_parent_record_only_when_running_with_a_backend():
    backed = {**CTX, "running_with_backend": True}
    assert parent_context({**backed, "map_index": 2}) == {
        "parent_flow_run_id": "fr-1",
        "parent_task_run_id": "tr-1",
        "parent_map_index": 2,
    }
    assert parent_context(backed) == {"parent_flow_run_id": "fr-1", "parent_task_run_id": "tr-1"}
    # a local flow.run(): its ids name no run the backend knows
    assert parent_context({**CTX, "map_index": 2}) == {}
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


def test_local_run_key_includes_the_scheduled_start_time_of_the_iteration():
    start = pendulum.datetime(2031, 1, 2, 3, 4, 5, tz="UTC")
    local = {**CTX, "scheduled_start_time": start}
    assert default_idempotency_key(local) == "fr-1@2031-01-02T03:04:05+00:00:create_flow_run-1"
    later = default_idempotency_key({**local, "scheduled_start_time": start.add(seconds=1)})
    assert later != default_idempotency_key(local)
    # with a backend the flow run id alone identifies the run (a restart keeps it)
    assert default_idempotency_key({**local, "running_with_backend": True}) == "fr-1:create_flow_run-1"


def test_calls_in_one_task_run_get_numbered_keys_and_a_retry_maps_them_back():
    attempt = {**CTX, "map_index": 2, "task_run_count": 1}
    with prefect.context(**attempt):
        first = [default_idempotency_key() for _ in range(3)]
    assert first == ["fr-1:create_flow_run-1[2]", "fr-1:create_flow_run-1[2]~2", "fr-1:create_flow_run-1[2]~3"]
    with prefect.context(**{**attempt, "task_run_count": 2}):  # the retry numbers its calls from 1 again
        assert [default_idempotency_key() for _ in range(3)] == first
    # another map index, loop iteration or task run counts on its own
    assert default_idempotency_key({**attempt, "map_index": 3}) == "fr-1:create_flow_run-1[3]"
    assert default_idempotency_key({**attempt, "task_loop_count": 2}) == "fr-1:create_flow_run-1[2]#2"
    assert default_idempotency_key({**attempt, "task_run_id": "tr-other"}) == "fr-1:create_flow_run-1[2]"
    # outside a task run (no task_run_count) nothing tells a 2nd call from a re-run
    assert default_idempotency_key(CTX) == default_idempotency_key(CTX) == "fr-1:create_flow_run-1"
    # without a flow run, the task run id is numbered the same way
    lone = {"task_run_id": "tr-lone", "task_run_count": 1}
    assert [default_idempotency_key(lone) for _ in range(2)] == ["tr-lone", "tr-lone~2"]


def test_call_counter_is_thread_safe_and_bounded():
    counter = CallCounter(limit=3)
    numbers = run_at_once(lambda: counter.next("scope"), threads=8)
    assert sorted(numbers) == list(range(1, 9))
    for scope in ("a", "b", "c", "d"):
        counter.next(scope)
    assert len(counter) == 3
    assert counter.next("scope") == 1  # the least recently used scope was forgotten
    assert counter.next("d") == 2


@task
def two_keys():
    return default_idempotency_key(), default_idempotency_key()


def test_each_iteration_of_a_scheduled_local_run_gets_new_keys():
    now = pendulum.now("UTC")
    when = [now.add(seconds=0.2), now.add(seconds=1.2)]
    with Flow("scheduled-keys", schedule=Schedule(clocks=[DatesClock(when)])) as flow:
        keys = two_keys()
    seen = []

    def record(flow_, old, new):  # called on every state change of each iteration
        if new.is_successful():
            seen.append(new.result[keys].result)
        return new

    flow.state_handlers.append(record)
    flow.run()
    assert len(seen) == 2
    (a1, a2), (b1, b2) = seen
    assert len({a1, a2, b1, b2}) == 4
    assert a2 == a1 + "~2" and b2 == b1 + "~2"
    assert a1.split("@")[0] == b1.split("@")[0]  # one flow run id: the iteration tells them apart
