"""`GET /metrics`: the backend's figures in Prometheus' text format (`prometheus_client`).

Per process (each server process has its own; add them up across processes):

- `tasks_flowrun_requests_total{operation, status}`: requests served. `operation` is the
  GraphQL root field asked for (`set_flow_run_states`, `flow_run`...), `multiple` for a
  document asking for several, `batch` for a JSON array of operations, `invalid` for a
  document that does not parse or validate, `graphql` for a request refused before its
  document was read, and `watch`, `health`, `stats`, `metrics` for those endpoints. `status`
  is `ok`, `error` (answered with errors), `unauthenticated`, `refused` (refused before it
  ran: body too large, malformed, cross-site), `busy` (too many requests in flight),
  `timeout` (stopped: its time budget was spent, or its client left) or `failed` (an
  internal error).
- `tasks_flowrun_request_duration_seconds{operation}`: a histogram of the time to answer
  (a held `/watch` counts the time it was held).
- `tasks_flowrun_recovery_actions_total{action}`: runs the recovery sweep found dead and
  `rescheduled`, `failed` or `cancelled` (counted where the sweep runs: on PostgreSQL, the
  process leading the services).
- `tasks_flowrun_watch_waiting`: `/watch` requests held right now.

Read from the database at each scrape (the same on every process of one database):

- `tasks_flowrun_flow_runs{state}`: flow runs by state.
- `tasks_flowrun_agent_slots_in_use{agent_id, agent}`: flow runs an agent deployed that are
  still Submitted, Running or Cancelling (agents cannot push figures to the backend, so this
  is what the backend knows: the runs each agent set Submitted), for every agent with such a
  run or that asked for work in the last 5 minutes (0 when idle).
- `tasks_flowrun_database_up`: 1 if those reads succeeded, else 0.
"""
import functools
import datetime as dt
import logging
import time
import weakref
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import Response

from .storage.counts import flow_runs_by_state, runs_by_agent
from .storage.database import Database
from .timestamps import clock, to_utc_text

logger = logging.getLogger("tasks_flowrun.server")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SLOT_STATES = ("Submitted", "Running", "Cancelling")
AGENT_RECENT = dt.timedelta(minutes=5)
RECOVERY_ACTIONS = ("rescheduled", "failed", "cancelled")

Handler = Callable[[Request, "Observed"], Awaitable[Response]]  # a route's handler (see http/guard.py)


class Observed:
    """What the metrics learn of one request while it is served."""

    __slots__ = ("operation", "status")

    def __init__(self, operation: str = "graphql") -> None:
        self.operation = operation  # a GraphQL request's: "graphql" until its document is read
        self.status: Optional[str] = None  # set when the answer alone cannot tell

    def document(self, fields: List[str]) -> None:
        """The root fields of its (parsed, valid) document; none: it did not parse or validate."""
        names = set(fields)
        self.operation = "invalid" if not names else fields[0] if len(names) == 1 else "multiple"
        if not names:  # answered with the errors that say why
            self.status = "error"

    def batch(self) -> None:
        self.operation = "batch"

    def result(self, result: Dict[str, Any]) -> None:
        """A GraphQL answer: `error` if it holds errors (`timeout` if it was stopped)."""
        errors = result.get("errors") or []
        if errors and self.status in (None, "ok"):
            codes = {((e.get("extensions") or {}).get("code")) for e in errors if isinstance(e, dict)}
            self.status = "timeout" if "TIMEOUT" in codes else "error"
        elif self.status is None:
            self.status = "ok"


def status_of(code: int, observed: Optional[Observed]) -> str:
    """The `status` label of an answer with HTTP status `code`."""
    if observed is not None and observed.status == "unauthenticated":
        return "unauthenticated"
    if code == 503:
        return "busy"
    if code == 408:
        return "timeout"
    if code >= 500:
        return "failed"
    if observed is not None and observed.status is not None:
        return observed.status
    return "refused" if code >= 400 else "ok"


class _DatabaseCollector:
    """Figures read from the database at each scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> Iterable[Metric]:  # no query when registered
        return self._families()

    def _families(self) -> List[GaugeMetricFamily]:
        return [GaugeMetricFamily("tasks_flowrun_flow_runs", "Flow runs by state (read from the database).",
                                  labels=["state"]),
                GaugeMetricFamily("tasks_flowrun_agent_slots_in_use",
                                  "Flow runs an agent deployed that are still Submitted, Running or Cancelling.",
                                  labels=["agent_id", "agent"]),
                GaugeMetricFamily("tasks_flowrun_database_up",
                                  "1 if the figures read from the database at this scrape could be read, else 0.")]

    def collect(self) -> Iterable[Metric]:
        runs, slots, up = self._families()
        try:
            with self.db.read() as conn:
                by_state = flow_runs_by_state(conn)
                by_agent = runs_by_agent(conn, SLOT_STATES, to_utc_text(clock.now() - AGENT_RECENT))
        except Exception as exc:  # a scrape must still answer, saying the database did not
            logger.warning("/metrics: cannot read the database: %s", exc)
            up.add_metric([], 0)
            return [up]
        for state, count in sorted(by_state.items()):
            runs.add_metric([state], count)
        for agent_id, name, count in by_agent:
            slots.add_metric([agent_id, name], count)
        up.add_metric([], 1)
        return [runs, slots, up]


class Metrics:
    """The figures of one backend (its own registry: several backends may share a process)."""

    def __init__(self, db: Database, waiting: Callable[[], int]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("tasks_flowrun_requests", "Requests served, by operation and outcome.",
                                ["operation", "status"], registry=self.registry)
        self.latency = Histogram("tasks_flowrun_request_duration_seconds", "Time to answer a request.",
                                 ["operation"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.recoveries = Counter("tasks_flowrun_recovery_actions",
                                  "Runs the recovery sweep found dead, by what it did with them.",
                                  ["action"], registry=self.registry)
        for action in RECOVERY_ACTIONS:
            self.recoveries.labels(action)
        waiting_gauge = Gauge("tasks_flowrun_watch_waiting", "POST /watch requests held right now.",
                              registry=self.registry)
        waiting_gauge.set_function(waiting)
        self.registry.register(_DatabaseCollector(db))
        _BY_DATABASE[db] = self

    def observe(self, operation: str, status: str, seconds: float) -> None:
        self.requests.labels(operation, status).inc()
        self.latency.labels(operation).observe(seconds)

    def recovered(self, outcome: Dict[str, List[str]]) -> None:
        for action, ids in outcome.items():
            if ids:
                self.recoveries.labels(action).inc(len(ids))

    def render(self, accept: str = "") -> Tuple[bytes, str]:
        """The figures in the format the scraper accepts (Prometheus text, or OpenMetrics), and its type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def instrument(self, operation: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """`handler` as a Starlette endpoint, counted and timed as `operation` (a GraphQL
        handler names the root field it served in the `Observed` it is given); its
        attributes (e.g. `/watch`'s counters) stay readable on the endpoint."""

        @functools.wraps(handler)
        async def instrumented(request: Request) -> Response:
            started = time.perf_counter()
            observed = Observed(operation)
            try:
                response = await handler(request, observed)
            except Exception:
                self.observe(observed.operation, "failed", time.perf_counter() - started)
                raise
            self.observe(observed.operation, status_of(response.status_code, observed), time.perf_counter() - started)
            return response

        return instrumented


_BY_DATABASE: "weakref.WeakKeyDictionary[Database, Metrics]" = weakref.WeakKeyDictionary()


def count_recovery(db: Database, outcome: Dict[str, List[str]]) -> None:
    """Count what the recovery sweep did (its one hook, in services/recovery.py)."""
    metrics = _BY_DATABASE.get(db)
    if metrics is not None:
        metrics.recovered(outcome)
