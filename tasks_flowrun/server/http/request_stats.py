"""Request counters, exposed at `GET /stats` (used by tests and benchmarks to count API calls)."""
import threading
from collections import Counter
from typing import Any, Dict, Iterable


class RequestStats:
    """Counts GraphQL requests and the root fields they asked for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._fields: Counter = Counter()

    def record(self, fields: Iterable[str]) -> None:
        with self._lock:
            self._requests += 1
            self._fields.update(fields)

    def snapshot(self) -> Dict[str, Any]:
        """{"requests": total GraphQL requests, "fields": {root field: count}}."""
        with self._lock:
            return {"requests": self._requests, "fields": dict(self._fields)}

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._fields.clear()
