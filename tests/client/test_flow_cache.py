"""The process-level look-up cache: TTL, bounds, what it stores, and per-backend keys."""
import threading

from prefect import Client

from tasks_flowrun.client import ChildFlow, FlowCache
from tasks_flowrun.client.flow_cache import cache_key

CHILD = ChildFlow(
    flow_id="f1", name="child", version=1, flow_group_id="g1", version_group_id="v1",
    project_name="p", pinned=False, tenant_slug="default", existing_run_id="run-of-one-key",
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl_and_carry_no_run():
    clock = Clock()
    cache = FlowCache(ttl=60, clock=clock)
    cache.put(("k",), CHILD)
    stored = cache.get(("k",))
    assert stored is not None and stored.flow_id == "f1" and stored.existing_run_id is None
    clock.now += 59.9
    assert cache.get(("k",)) is not None
    clock.now += 0.1
    assert cache.get(("k",)) is None and len(cache) == 0


def test_archived_versions_are_not_stored_and_forget_drops():
    cache = FlowCache()
    cache.put(("k",), CHILD)
    cache.put(("k",), ChildFlow(**{**CHILD.__dict__, "archived": True}))
    assert cache.get(("k",)) is None
    cache.put(("k",), CHILD)
    cache.forget(("k",))
    assert cache.get(("k",)) is None


def test_size_is_bounded_oldest_first():
    cache = FlowCache(max_entries=3)
    for i in range(5):
        cache.put((str(i),), CHILD)
    assert len(cache) == 3 and cache.get(("0",)) is None and cache.get(("4",)) is not None


def test_keys_separate_backends_tenants_and_identifiers():
    a = Client(api_server="http://127.0.0.1:4200")
    b = Client(api_server="http://127.0.0.1:4300")
    assert cache_key(a, flow_name="child") != cache_key(b, flow_name="child")
    assert cache_key(a, flow_name="child") == cache_key(Client(api_server="http://127.0.0.1:4200"), flow_name="child")
    assert cache_key(a, flow_name="child") != cache_key(a, flow_name="child", project_name="p")
    assert cache_key(a, flow_id="x") != cache_key(a, flow_group_id="x") != cache_key(a, flow_name="x")
    t1 = Client(api_server="http://127.0.0.1:4200", tenant_id="2a6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c")
    t2 = Client(api_server="http://127.0.0.1:4200", tenant_id="3b6a8ba2-7b6d-4c4c-9d8b-5f8e1b0f2a3c")
    assert cache_key(t1, flow_name="child") != cache_key(t2, flow_name="child")
    keyed = Client(api_server="http://127.0.0.1:4200", api_key="secret-key")
    assert cache_key(keyed, flow_name="child") != cache_key(a, flow_name="child")
    assert "secret-key" not in str(cache_key(keyed, flow_name="child"))


def test_single_flight_serializes_one_identifier():
    cache = FlowCache()
    inside, overlaps = [], []
    lock = threading.Lock()

    def look_up() -> None:
        with cache.single_flight(("k",)):
            with lock:
                overlaps.append(len(inside))
                inside.append(1)
            threading.Event().wait(0.01)
            with lock:
                inside.pop()

    threads = [threading.Thread(target=look_up) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == [0] * 6
