"""A small process-level cache of successful flow look-ups, so a fan-out resolves its child once.

Mapped children of one parent run in one process (the parent's flow run, with its executor
threads), all with the same identifier: one look-up serves them all, and each child then
costs one create request. Entries are keyed by the identifier (flow id, flow group id, or
name + project) and by the backend (API address, tenant, a digest of the API key), so two
backends or tenants never share an entry; they live `DEFAULT_TTL` seconds.

Only resolutions that succeeded for a live (unarchived) version are stored, without the
run found for an idempotency key (that belongs to one child, not to the flow). What a
cached entry is used for stays safe when it is stale: a child found by name or flow group
is created through its version group, which the backend resolves to its newest unarchived
version at create time; a refused create drops the entry and falls back to a fresh look-up
(see `child_runs.create_child_run`).

Concurrent misses for one identifier are serialized (`single_flight`), so the threads of a
mapped fan-out that start together still send one look-up between them.
"""
import hashlib
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, Iterator, Optional, Tuple

import prefect

from ..prefect_private import known_tenant_id
from .flows import ChildFlow

DEFAULT_TTL = 60.0  # seconds an entry is used
MAX_ENTRIES = 256
_STRIPES = 32  # look-up locks, shared by identifiers with the same hash

CacheKey = Tuple[str, ...]


def cache_key(
    client: "prefect.Client",
    flow_id: Optional[str] = None,
    flow_group_id: Optional[str] = None,
    flow_name: Optional[str] = None,
    project_name: Optional[str] = None,
) -> CacheKey:
    """
    The cache key of one child-flow identifier on the backend `client` talks to.

    Args:
        - client (prefect.Client): the client (its API address, tenant and API key)
        - flow_id (str, optional): a flow id, or a flow group id
        - flow_group_id (str, optional): a flow group id
        - flow_name (str, optional): a flow name
        - project_name (str, optional): the project of `flow_name`

    Returns:
        - tuple: the key (the API key only as a digest)
    """
    api_key = getattr(client, "api_key", None) or ""
    who = hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else ""
    tenant = str(known_tenant_id(client) or "")
    ident = ("id", flow_id) if flow_id else ("group", flow_group_id) if flow_group_id else ("name", flow_name)
    return (str(client.api_server), tenant, who, ident[0], str(ident[1]), str(project_name or ""))


class FlowCache:
    """
    A thread-safe, size-bounded map of identifier -> `ChildFlow`, each entry kept `ttl` s.

    Args:
        - ttl (float, optional): seconds an entry is used after it was stored
        - max_entries (int, optional): the oldest entries are dropped past this many
        - clock (Callable, optional): monotonic clock (tests)
    """

    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: "OrderedDict[CacheKey, Tuple[float, ChildFlow]]" = OrderedDict()
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]

    def get(self, key: CacheKey) -> Optional[ChildFlow]:
        """
        The flow stored for `key`, if it is younger than `ttl`.

        Args:
            - key (tuple): from `cache_key`

        Returns:
            - ChildFlow: the stored flow (without an `existing_run_id`), or `None`
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self.clock() - entry[0] >= self.ttl:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: CacheKey, child: ChildFlow) -> None:
        """
        Store a successful resolution; an archived version (returned only to re-attach to
        a run made with a key) is not stored.

        Args:
            - key (tuple): from `cache_key`
            - child (ChildFlow): the flow a fresh look-up found
        """
        if child.archived:
            self.forget(key)
            return
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = (self.clock(), replace(child, existing_run_id=None))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, key: CacheKey) -> None:
        """
        Drop the entry of `key` (e.g. after the backend refused a create based on it).

        Args:
            - key (tuple): from `cache_key`
        """
        with self._lock:
            self._entries.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()

    @contextmanager
    def single_flight(self, key: CacheKey) -> Iterator[None]:
        """
        Serialize the look-ups of one identifier: a thread that waited here should `get`
        again before sending its own look-up.

        Args:
            - key (tuple): from `cache_key`
        """
        with self._stripes[hash(key) % _STRIPES]:
            yield


FLOW_CACHE = FlowCache()
