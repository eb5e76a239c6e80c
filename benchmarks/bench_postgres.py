"""The PostgreSQL store: creates per second with 1, 2 and 4 server processes on one database
(beside SQLite with one), and the queue poll, the idempotency look-up and pushed waits
across processes at 100,000 runs.

Usage: python benchmarks/bench_postgres.py [--keep]   (prints the figures and a table)

A throwaway PostgreSQL cluster (`tests/postgres_cluster.py`) is started, then switched back
to durable settings before anything is measured: fsync, synchronous_commit and
full_page_writes on (`ALTER SYSTEM` + reload, checked with `SHOW`), i.e. PostgreSQL's
defaults, so every create waits for its WAL flush as it would in production. Every server
is `tasks-flowrun server --database postgresql://...` in a process of its own, on a port of
its own, as users run it.

1. Creates per second. Configurations: SQLite (a fresh file) with 1 server process, and
   PostgreSQL (one fresh database for all of them) with 1, 2 and 4 processes. Each is
   driven by the same CLIENTS client *processes* (not threads: the load generator must not
   share one interpreter lock), spread round-robin over the configuration's ports. A client
   keeps one keep-alive `http.client` connection (lighter than `requests`, so the clients
   take little CPU) and posts, one after the other, exactly the body
   `prefect.Client.create_flow_run` sends (its document text, `variables` as a JSON string,
   the `X-PREFECT-CORE-VERSION` header) for the benchmarks' child flow (3 tasks and a
   parameter: a create writes the run, its Scheduled state and 4 Pending task runs with
   their states), each with a distinct idempotency key. After WARMUP seconds the completed
   creates are counted for MEASURE seconds; every answer is checked for an id. ROUNDS
   rounds, every other one in reverse order of configurations; the table shows the median
   over rounds, and each ratio is the median of the ratios within a round (the machine may
   be shared: a round's configurations run minutes apart at most). During each window the
   CPU time of the server processes, of PostgreSQL's processes, of the clients and of the
   whole machine (/proc) is sampled, so the log shows where the time went, and how much
   CPU other processes on the machine took meanwhile; on PostgreSQL, pg_stat_activity is sampled
   every 50 ms too (sessions waiting for their server process, in COMMIT, on a lock).
2. At RUNS runs (PostgreSQL, a second fresh database, 2 server processes A and B): the
   runs are cloned in SQL from two template runs made through the API (one run driven to
   Success with its 4 task runs, one Scheduled and due), each with its state history and
   task runs with theirs (about 2.1 million rows), DUE of them Scheduled and due for a
   label, the rest finished and spread over the past weeks; then ANALYZE (what autovacuum
   would do). Then:
   - `get_runs_in_queue`, the LocalAgent's own document, QUERIES times for labels matching
     the due runs (answer: 25 ids) and for labels matching none, median and p95. If it
     fails with PostgreSQL's default settings, the failure is reported (table row
     "FAILED") and it is measured again with parallel query off for that database
     (`max_parallel_workers_per_gather = 0`, servers restarted), labelled as such;
   - idempotency look-up as a create with an existing key (the answer must be the
     existing run), and the plugin's `find_child_flow` with a key, LOOKUPS keys spread
     over the table, median and p95;
   - pushed waits across processes: WATCHES times, a fresh run is created, a `POST /watch`
     (the body `tasks_flowrun.client.change_stream` sends, with a token from the previous
     answer) is held on A, then the run is set Running through B (`set_flow_run_states`,
     the body `prefect.Client.set_flow_run_state` sends). Latency = the watch's answer -
     the state change's response (negative when the watch answers first: the change is
     announced at commit, before B has sent its response), median and p95; also from when
     B's request was sent. The change crossed processes through LISTEN/NOTIFY.

At the end PostgreSQL's log and the servers' logs are scanned for errors (deadlocks,
serialization failures, tracebacks) and what was found is printed.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests/postgres_cluster.py

from common import Bench, Row, ServerProcess, free_port, median, percentile, print_table, say  # noqa: E402

CLIENTS = 8
PROCESS_COUNTS = (1, 2, 4)
WARMUP = 2.0
MEASURE = 12.0
ROUNDS = 3
RUNS = 100_000
DUE = 1_000
QUERIES = 200
LOOKUPS = 200
WATCHES = 50
DUE_LABEL = "bench-pg-due"
NO_AGENT_LABEL = "bench-pg-none"
DURABLE = {  # PostgreSQL's durable defaults, over the test cluster's fast-and-unsafe ones
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # and a log that shows what went wrong (the test cluster silences failed statements)
    "log_min_error_statement": "error",
    "log_lock_waits": "on",
}
CREATE = "mutation($input: create_flow_run_input!) {\n    create_flow_run(input: $input) {\n        id\n    }\n}"
QUEUE = "mutation($input: get_runs_in_queue_input!) {\n    get_runs_in_queue(input: $input) {\n        flow_run_ids\n    }\n}"
SET_STATES = ("mutation($input: set_flow_run_states_input!) {\n    set_flow_run_states(input: $input) {\n"
              "        states {\n            id\n            status\n            message\n        }\n    }\n}")


# --- a light HTTP client (also used by the client processes) ------------------------------

class Http:
    """One keep-alive connection posting JSON, with the headers `prefect.Client` sends."""

    def __init__(self, port: int, core_version: str) -> None:
        self.port = port
        self.headers = {"Content-Type": "application/json", "X-PREFECT-CORE-VERSION": core_version}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def post(self, path: str, body: Dict[str, Any]) -> Tuple[int, Any]:
        try:
            self.conn.request("POST", path, json.dumps(body), self.headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # a closed keep-alive connection: once more on a new one
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request("POST", path, json.dumps(body), self.headers)
            resp = self.conn.getresponse()
            data = resp.read()
        return resp.status, json.loads(data)

    def graphql(self, query: str, variables: Dict[str, Any]) -> Dict[str, Any]:
        status, body = self.post("/", {"query": query, "variables": json.dumps(variables)})
        if status != 200 or body.get("errors"):
            raise RuntimeError(f"HTTP {status}: {str(body)[:500]}")
        return body["data"]

    def close(self) -> None:
        self.conn.close()


def create_body(flow_id: str, key: str) -> Dict[str, Any]:
    variables = {"input": {"flow_id": flow_id, "idempotency_key": key, "labels": [NO_AGENT_LABEL]}}
    return {"query": CREATE, "variables": json.dumps(variables)}


def _client(index: int, port: int, flow_id: str, core_version: str, warmup: float, measure: float, ready: Any,
            go: Any, start_at: Any, results: Any) -> None:
    """A client process: creates as fast as answers come, counted in [start+warmup, +measure)."""
    http_ = Http(port, core_version)
    prefix = uuid.uuid4().hex
    ready.put(index)
    go.wait()
    begin = start_at.value + warmup
    end = begin + measure
    counted, errors, latencies, n = 0, [], [], 0
    cpu_begin = cpu_end = None
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if cpu_begin is None and now >= begin:
            cpu_begin = time.process_time()
        n += 1
        status, body = http_.post("/", create_body(flow_id, f"{prefix}-{n}"))
        done = time.monotonic()
        if status != 200 or not ((body.get("data") or {}).get("create_flow_run") or {}).get("id"):
            if len(errors) < 5:
                errors.append(f"HTTP {status}: {str(body)[:300]}")
            continue
        if begin <= now and done < end:
            counted += 1
            latencies.append(done - now)
    cpu_end = time.process_time()
    http_.close()
    results.put({"index": index, "counted": counted, "errors": errors, "latencies": latencies,
                 "cpu": cpu_end - (cpu_begin if cpu_begin is not None else cpu_end)})


# --- CPU accounting from /proc ------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0.0


def _children_of(parent: int) -> List[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == parent:
                found.append(int(entry.name))
    return found


def _machine() -> Tuple[float, float, float]:
    """(busy, iowait, total) seconds of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    idle, iowait = values[3], values[4]
    return (total - idle - iowait) / TICK, iowait / TICK, total / TICK


class CpuSample:
    """CPU seconds of the servers, of PostgreSQL's processes and of the machine, at one moment."""

    def __init__(self, servers: Sequence[int], postmaster: Optional[int]) -> None:
        self.at = time.monotonic()
        self.servers = {pid: _cpu_of(pid) for pid in servers}
        pg = ([postmaster] + _children_of(postmaster)) if postmaster else []
        self.postgres = {pid: _cpu_of(pid) for pid in pg}
        self.machine = _machine()

    @staticmethod
    def spent(before: "CpuSample", after: "CpuSample") -> Dict[str, float]:
        """Cores used between two samples: servers, postgres, machine busy, iowait."""
        wall = after.at - before.at
        servers = sum(after.servers[p] - before.servers.get(p, 0.0) for p in after.servers)
        postgres = sum(after.postgres[p] - before.postgres.get(p, 0.0) for p in after.postgres)
        return {"servers": servers / wall, "postgres": postgres / wall,
                "busy": (after.machine[0] - before.machine[0]) / wall,
                "iowait": (after.machine[1] - before.machine[1]) / wall}


class WaitSampler:
    """What the database's sessions are doing, sampled every INTERVAL s from pg_stat_activity:
    the mean number of sessions in each (state, wait event) over the window. A session "idle in
    transaction" waits for its server process to send the next statement; "COMMIT" waits
    for the WAL flush; a Lock wait is a row lock held by another transaction."""

    INTERVAL = 0.05

    def __init__(self, admin_url: str, database_url: str) -> None:
        self.admin_url, self.database = admin_url, database_url.rsplit("/", 1)[1]
        self.counts: Dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def between(self, begin: float, end: float) -> "WaitSampler":
        self.begin, self.end = begin, end
        self._thread.start()
        return self

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            time.sleep(max(0.0, self.begin - time.monotonic()))
            while time.monotonic() < self.end and not self._stop.is_set():
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity WHERE datname = %s "
                    "AND backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'",
                    (self.database,)).fetchall()
                self.samples += 1
                for state, kind, event, query in rows:
                    if state == "active" and query.strip().upper().startswith("LISTEN"):
                        continue
                    if state == "idle in transaction":
                        what = "idle in transaction (waiting for the server process)"
                    elif query.strip().upper() == "COMMIT":
                        what = f"COMMIT ({event or 'on CPU'})"
                    elif kind == "Lock":
                        what = f"waiting for a lock ({event})"
                    else:
                        what = f"running a statement ({event or 'on CPU'})"
                    self.counts[what] = self.counts.get(what, 0) + 1
                time.sleep(self.INTERVAL)

    def summary(self) -> str:
        self._stop.set()
        self._thread.join(timeout=10)
        if not self.samples:
            return "no samples"
        parts = sorted(self.counts.items(), key=lambda item: -item[1])
        busy = sum(self.counts.values()) / self.samples
        return f"{busy:.2f} sessions in a transaction on average: " + ", ".join(
            f"{what} {n / self.samples:.2f}" for what, n in parts)


# --- the PostgreSQL cluster -----------------------------------------------------------------

def start_cluster():
    """A throwaway cluster switched to durable settings (PostgreSQL's defaults)."""
    import psycopg
    from tests.postgres_cluster import Cluster

    cluster = Cluster().start()
    try:
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            for name, value in DURABLE.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while True:
            with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
                now = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in DURABLE}
            if now == DURABLE:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL did not take the durable settings: {now}")
            time.sleep(0.2)
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            shown = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                     for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method",
                                  "shared_buffers", "max_connections")}
        say(f"PostgreSQL {version} at {cluster.admin_url}: {shown}")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def postmaster_pid(cluster) -> Optional[int]:
    try:
        return int((cluster.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Servers:
    """`count` `tasks-flowrun server` processes on one database, each on its own port."""

    def __init__(self, database: str, count: int, logs: Path, name: str) -> None:
        self.database, self.count, self.logs, self.name = database, count, logs, name
        self.procs: List[ServerProcess] = []

    def __enter__(self) -> "Servers":
        try:
            for i in range(self.count):  # one at a time: the first one creates the tables
                log = self.logs / f"{self.name}-{i}.log"
                server = ServerProcess(free_port(), self.database, log)  # type: ignore[arg-type]
                self.procs.append(server)
                server.start(timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in self.procs:
            server.stop()

    @property
    def ports(self) -> List[int]:
        return [int(s.url.rsplit(":", 1)[1]) for s in self.procs]

    @property
    def pids(self) -> List[int]:
        return [s.process.pid for s in self.procs if s.process is not None]


def _pointed_at(url: str):
    from bench_scale import _pointed_at as pointed

    return pointed(url)


def register_child(url: str, project: str) -> str:
    """Create the project and register the 3-task child flow on the backend at `url`."""
    import prefect

    from bench_scale import _register

    with prefect.context(config=_pointed_at(url)):
        prefect.Client().create_project(project)
        return _register(project)


# --- 1. creates per second ------------------------------------------------------------------

def measure_creates(servers: Servers, flow_id: str, postmaster: Optional[int],
                    sampler: Optional[WaitSampler] = None) -> Dict[str, Any]:
    import prefect

    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    start_at = ctx.Value("d", 0.0)
    ports = servers.ports
    clients = [ctx.Process(target=_client, args=(i, ports[i % len(ports)], flow_id, prefect.__version__, WARMUP,
                                                 MEASURE, ready, go, start_at, results), daemon=True)
               for i in range(CLIENTS)]
    try:
        for proc in clients:
            proc.start()
        for _ in clients:
            ready.get(timeout=60)
        start_at.value = time.monotonic() + 0.1
        go.set()
        begin = start_at.value + WARMUP
        if sampler is not None:
            sampler.between(begin, begin + MEASURE)
        time.sleep(max(0.0, begin - time.monotonic()))
        first = CpuSample(servers.pids, postmaster)
        time.sleep(max(0.0, begin + MEASURE - time.monotonic()))
        last = CpuSample(servers.pids, postmaster)
        answers = [results.get(timeout=60) for _ in clients]
        for proc in clients:
            proc.join(timeout=30)
    finally:
        for proc in clients:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    errors = [e for a in answers for e in a["errors"]]
    if errors:
        raise RuntimeError(f"{len(errors)} create(s) failed, e.g. {errors[0]}")
    counted = sum(a["counted"] for a in answers)
    latencies = [x for a in answers for x in a["latencies"]]
    cpu = CpuSample.spent(first, last)
    cpu["clients"] = sum(a["cpu"] for a in answers) / MEASURE
    return {"rate": counted / MEASURE, "median": median(latencies), "p95": percentile(latencies, 95),
            "cpu": cpu, "waits": sampler.summary() if sampler is not None else None,
            "per_client": [a["counted"] for a in sorted(answers, key=lambda a: a["index"])]}


def creates_per_second(bench: Bench, cluster) -> Dict[str, List[Dict[str, Any]]]:
    pg_url = cluster.create_database("bench_creates")
    sqlite_file = str(bench.home / "bench-postgres-sqlite.db")
    flows: Dict[str, str] = {}
    configs = [("sqlite", 1)] + [("postgresql", n) for n in PROCESS_COUNTS]
    figures: Dict[str, List[Dict[str, Any]]] = {}
    for round_ in range(ROUNDS):
        for store, count in (configs if round_ % 2 == 0 else list(reversed(configs))):
            name = f"{store}-{count}"
            database = sqlite_file if store == "sqlite" else pg_url
            with Servers(database, count, bench.home, f"creates-{name}") as servers:
                if store not in flows:
                    flows[store] = register_child(servers.procs[0].url, bench.project)
                if store == "postgresql":
                    got = measure_creates(servers, flows[store], postmaster_pid(cluster),
                                          WaitSampler(cluster.admin_url, pg_url))
                else:
                    got = measure_creates(servers, flows[store], None)
            cpu, rate = got["cpu"], got["rate"]
            others = cpu["busy"] - cpu["servers"] - cpu["postgres"] - cpu["clients"]
            say(f"round {round_ + 1}, {store} x{count} process(es), {CLIENTS} client processes: "
                f"{rate:.0f} creates/s (latency median {got['median'] * 1000:.1f} ms, "
                f"p95 {got['p95'] * 1000:.1f} ms; per client {got['per_client']}); cores used: servers "
                f"{cpu['servers']:.2f} ({cpu['servers'] / rate * 1000:.2f} ms CPU per create), postgres "
                f"{cpu['postgres']:.2f} ({cpu['postgres'] / rate * 1000:.2f} ms per create), clients "
                f"{cpu['clients']:.2f}, other processes {others:.2f}; whole machine {cpu['busy']:.2f} busy + "
                f"{cpu['iowait']:.2f} iowait of {os.cpu_count()}"
                + (f"; PostgreSQL sessions: {got['waits']}" if got["waits"] else ""))
            figures.setdefault(name, []).append(got)
    return figures


# --- 2. at 100,000 runs ---------------------------------------------------------------------

def _template_runs(url: str, flow_id: str) -> Tuple[str, str]:
    """(a run driven to Success with its task runs, a Scheduled run due for DUE_LABEL)."""
    import prefect
    from prefect.engine.state import Running, Submitted, Success

    with prefect.context(config=_pointed_at(url)):
        client = prefect.Client()
        done = client.create_flow_run(flow_id=flow_id, labels=["bench-pg-done"])
        client.set_flow_run_state(done, Submitted("Submitted for execution"))
        client.set_flow_run_state(done, Running("Running flow."))
        info = client.get_flow_run_info(done)
        for task_run in info.task_runs:
            client.set_task_run_state(task_run.id, Running("Starting task run."))
            client.set_task_run_state(task_run.id, Success("Task run succeeded"))
        client.set_flow_run_state(done, Success("All reference tasks succeeded."))
        due = client.create_flow_run(flow_id=flow_id, labels=[DUE_LABEL])
    return done, due


def _time_columns(table: str) -> List[str]:
    from tasks_flowrun.server.storage import tables

    return [c.name for c in tables.metadata.tables[table].columns if c.info.get("graphql") == "timestamptz"]


def fill(url: str, done: str, due: str) -> Dict[str, int]:
    """Clone the two template runs into RUNS runs (with states, task runs and their states), in SQL."""
    import psycopg

    fmt = 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'

    def shifted(column: str, alias: str) -> str:
        return (f"CASE WHEN {alias}.{column} IS NULL THEN NULL ELSE to_char(({alias}.{column}::timestamptz - r.shift) "
                f"AT TIME ZONE 'UTC', '{fmt}') END")

    def columns_of(conn: Any, table: str) -> List[str]:
        rows = conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                            "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
        return [r[0] for r in rows]

    def clone(conn: Any, table: str, source: str, overrides: Dict[str, str]) -> int:
        cols = columns_of(conn, table)
        times = set(_time_columns(table))
        exprs = [overrides.get(c) or (shifted(c, "t") if c in times else f"t.{c}") for c in cols]
        quoted = ", ".join(f'"{c}"' for c in cols)
        return conn.execute(f"INSERT INTO {table} ({quoted}) SELECT {', '.join(exprs)} {source}").rowcount

    with psycopg.connect(url, autocommit=False) as conn:
        conn.execute("CREATE TEMP TABLE runs AS SELECT i, gen_random_uuid()::text AS id, "
                     "CASE WHEN i <= %(due)s THEN %(due_id)s ELSE %(done_id)s END AS tpl, "
                     "CASE WHEN i <= %(due)s THEN interval '0' "
                     "ELSE (%(runs)s - i) * interval '20 seconds' END AS shift "
                     "FROM generate_series(1, %(runs)s - 2) AS i",  # the two templates count too
                     {"due": DUE - 1, "due_id": due, "done_id": done, "runs": RUNS})
        counts = {}
        counts["flow_run"] = clone(conn, "flow_run", "FROM runs r JOIN flow_run t ON t.id = r.tpl", {
            "id": "r.id",
            "name": "'bench-run-' || r.i",
            # the plugin's default key: <parent flow run id>:<task slug>[<map index>]
            "idempotency_key": "md5('parent' || (r.i / 50))::uuid::text || ':create_flow_run-1[' || (r.i % 50) || ']'",
            "context": "json_build_object('parent_flow_run_id', md5('parent' || (r.i / 50))::uuid::text)::text",
        })
        counts["flow_run_state"] = clone(conn, "flow_run_state",
                                         "FROM runs r JOIN flow_run_state t ON t.flow_run_id = r.tpl",
                                         {"id": "gen_random_uuid()::text", "flow_run_id": "r.id"})
        conn.execute("CREATE TEMP TABLE truns AS SELECT r.id AS run_id, r.shift, tr.id AS tpl, "
                     "gen_random_uuid()::text AS id FROM runs r JOIN task_run tr ON tr.flow_run_id = r.tpl")
        counts["task_run"] = clone(conn, "task_run", "FROM truns r JOIN task_run t ON t.id = r.tpl",
                                   {"id": "r.id", "flow_run_id": "r.run_id"})
        counts["task_run_state"] = clone(conn, "task_run_state",
                                         "FROM truns r JOIN task_run_state t ON t.task_run_id = r.tpl",
                                         {"id": "gen_random_uuid()::text", "task_run_id": "r.id"})
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        totals = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in counts}
        totals["due"] = conn.execute("SELECT count(*) FROM flow_run WHERE state = 'Scheduled'").fetchone()[0]
    return totals


def _keys(url: str) -> List[Tuple[str, str]]:
    """(key, run id) of LOOKUPS runs spread over the table."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT idempotency_key, id FROM flow_run WHERE idempotency_key IS NOT NULL "
                            "ORDER BY created, id").fetchall()
    step = max(1, len(rows) // LOOKUPS)
    return [(r[0], r[1]) for r in rows[::step][:LOOKUPS]]


def queue_latency(http_: Http, tenant_id: str, labels: List[str], expect: int) -> List[float]:
    import pendulum

    latencies = []
    for _ in range(QUERIES):
        variables = {"input": {"before": pendulum.now("UTC").add(seconds=10).isoformat(), "labels": labels,
                               "tenant_id": tenant_id}}
        t0 = time.perf_counter()
        data = http_.graphql(QUEUE, variables)
        latencies.append(time.perf_counter() - t0)
        got = len(data["get_runs_in_queue"]["flow_run_ids"])
        if got != expect:
            raise RuntimeError(f"get_runs_in_queue labels={labels}: {got} ids, expected {expect}")
    return latencies


def idempotency_latency(http_: Http, flow_id: str, keys: List[Tuple[str, str]]) -> List[float]:
    latencies = []
    for key, run_id in keys:
        t0 = time.perf_counter()
        status, body = http_.post("/", create_body(flow_id, key))
        latencies.append(time.perf_counter() - t0)
        got = ((body.get("data") or {}).get("create_flow_run") or {}).get("id")
        if status != 200 or got != run_id:
            raise RuntimeError(f"a create with an existing key answered {status} {str(body)[:300]}, not {run_id}")
    return latencies


def lookup_latency(url: str, flow_id: str, keys: List[Tuple[str, str]]) -> List[float]:
    import prefect

    from tasks_flowrun.client import find_child_flow

    latencies = []
    with prefect.context(config=_pointed_at(url)):
        client = prefect.Client()
        for key, run_id in keys:
            t0 = time.perf_counter()
            found = find_child_flow(client, flow_id=flow_id, idempotency_key=key)
            latencies.append(time.perf_counter() - t0)
            if found.existing_run_id != run_id:
                raise RuntimeError(f"find_child_flow found {found.existing_run_id}, not {run_id}")
    return latencies


def watch_latency(a: Servers, flow_id: str, core_version: str) -> Tuple[List[float], List[float]]:
    """Pushed waits held on process A, woken by state changes made through process B."""
    from prefect.engine.state import Running

    port_a, port_b = a.ports[0], a.ports[1]
    on_a, on_b, held = Http(port_a, core_version), Http(port_b, core_version), Http(port_a, core_version)
    running = Running("Running flow.").serialize()
    after_response, after_request = [], []
    try:
        for i in range(WATCHES):
            run_id = on_a.graphql(CREATE, json.loads(create_body(flow_id, f"watch-{uuid.uuid4()}")["variables"])
                                  )["create_flow_run"]["id"]
            status, first = on_a.post("/watch", {"flow_run_ids": [run_id], "token": None, "logs": False,
                                                 "timeout": 0})
            if status != 200 or first.get("changed") != [run_id]:
                raise RuntimeError(f"the first /watch answered {status} {first}")
            answer: Dict[str, Any] = {}

            def hold() -> None:
                answer["status"], answer["body"] = held.post(
                    "/watch", {"flow_run_ids": [run_id], "token": first["token"], "logs": False, "timeout": 30})
                answer["at"] = time.perf_counter()

            thread = threading.Thread(target=hold)
            thread.start()
            time.sleep(0.15)  # the watch is held by now (a round trip takes ~1 ms)
            if "at" in answer:
                raise RuntimeError(f"the watch answered before any change: {answer}")
            t0 = time.perf_counter()
            on_b.graphql(SET_STATES, {"input": {"states": [{"flow_run_id": run_id, "version": None,
                                                             "state": running}]}})
            t1 = time.perf_counter()
            thread.join(timeout=35)
            if answer.get("status") != 200 or answer["body"].get("changed") != [run_id]:
                raise RuntimeError(f"the held watch answered {answer}")
            after_response.append(answer["at"] - t1)
            after_request.append(answer["at"] - t0)
    finally:
        for h in (on_a, on_b, held):
            h.close()
    return after_response, after_request


def _attempt(name: str, work: Callable[[], Any], errors: Dict[str, str]) -> Any:
    """`work()`, or None when it fails (the failure is printed and kept for the table)."""
    try:
        return work()
    except Exception as exc:  # a figure that could not be measured: say why, measure the rest
        errors[name] = str(exc).splitlines()[0][:300]
        say(f"{name} FAILED: {str(exc)[:1500]}")
        return None


def _queue_both(port: int, tenant_id: str) -> Tuple[List[float], List[float]]:
    import prefect

    http_ = Http(port, prefect.__version__)
    try:
        queue_latency(http_, tenant_id, [DUE_LABEL], 25)  # warm-up
        return (queue_latency(http_, tenant_id, [DUE_LABEL], 25),
                queue_latency(http_, tenant_id, [NO_AGENT_LABEL + "-other"], 0))
    finally:
        http_.close()


def _idempotency(port: int, flow_id: str, keys: List[Tuple[str, str]]) -> List[float]:
    import prefect

    http_ = Http(port, prefect.__version__)
    try:
        return idempotency_latency(http_, flow_id, keys)
    finally:
        http_.close()


def at_scale(bench: Bench, cluster) -> Dict[str, Any]:
    import prefect
    import psycopg

    url = cluster.create_database("bench_scale")
    errors: Dict[str, str] = {}
    got: Dict[str, Any] = {"errors": errors}
    with Servers(url, 2, bench.home, "scale") as servers:
        a_url = servers.procs[0].url
        flow_id = register_child(a_url, bench.project)
        done, due = _template_runs(a_url, flow_id)
        say(f"filling {RUNS:,} runs (SQL clones of two template runs made through the API) ...")
        t0 = time.monotonic()
        totals = fill(url, done, due)
        say(f"filled in {time.monotonic() - t0:.1f} s (with ANALYZE): {totals}")
        with psycopg.connect(url) as conn:
            tenant_id = conn.execute("SELECT tenant_id FROM flow WHERE id = %s", (flow_id,)).fetchone()[0]
        keys = _keys(url)
        port = servers.ports[0]
        got["queue"] = _attempt("get_runs_in_queue", lambda: _queue_both(port, tenant_id), errors)
        got["idem"] = _attempt("create with an existing key", lambda: _idempotency(port, flow_id, keys), errors)
        got["lookup"] = _attempt("find_child_flow", lambda: lookup_latency(a_url, flow_id, keys), errors)
        got["watch"] = _attempt("pushed wait", lambda: watch_latency(servers, flow_id, prefect.__version__), errors)
    if got["queue"] is None:
        # Measure it anyway the one way that changes no server code: no parallel plans for
        # this database's new sessions (the servers are restarted to get new sessions).
        name = url.rsplit("/", 1)[1]
        say("get_runs_in_queue failed with PostgreSQL's default settings; measuring it again with parallel "
            f'query off for this database (ALTER DATABASE "{name}" SET max_parallel_workers_per_gather = 0, '
            "servers restarted)")
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET max_parallel_workers_per_gather = 0')
        with Servers(url, 2, bench.home, "scale-serial") as servers:
            got["queue_serial"] = _attempt("get_runs_in_queue (parallel query off)",
                                           lambda: _queue_both(servers.ports[0], tenant_id), errors)
    ms = lambda values, q: percentile(values, q) * 1000  # noqa: E731
    for key, what in (("queue", "defaults"), ("queue_serial", "parallel query off")):
        if got.get(key):
            match, none = got[key]
            say(f"at {RUNS:,} runs ({what}): get_runs_in_queue ({DUE:,} due, 25 answered) median "
                f"{ms(match, 50):.1f} ms, p95 {ms(match, 95):.1f} ms; none matching median {ms(none, 50):.1f} ms, "
                f"p95 {ms(none, 95):.1f} ms")
    if got["idem"]:
        say(f"at {RUNS:,} runs: create with an existing key median {ms(got['idem'], 50):.1f} ms, "
            f"p95 {ms(got['idem'], 95):.1f} ms")
    if got["lookup"]:
        say(f"at {RUNS:,} runs: find_child_flow with a key median {ms(got['lookup'], 50):.1f} ms, "
            f"p95 {ms(got['lookup'], 95):.1f} ms")
    if got["watch"]:
        watch, from_request = got["watch"]
        say(f"pushed wait across processes (held on A, state set through B), {WATCHES} trials: after B's "
            f"response median {ms(watch, 50):.1f} ms, p95 {ms(watch, 95):.1f} ms, max {max(watch) * 1000:.1f} ms; "
            f"after B's request was sent: median {ms(from_request, 50):.1f} ms, p95 {ms(from_request, 95):.1f} ms")
    return got


# --- logs -----------------------------------------------------------------------------------

def scan_logs(bench: Bench, cluster) -> None:
    """Print what the servers' and PostgreSQL's logs say went wrong (if anything)."""
    words = ("error:", "fatal:", "panic:", "warning:", "deadlock", "could not serialize", "traceback",
             "exception", " error ", " warning ")
    found = 0
    paths = sorted(bench.home.glob("creates-*.log")) + sorted(bench.home.glob("scale-*.log"))
    if cluster is not None and cluster.folder is not None:
        paths.append(cluster.folder / "server.log")
    for path in paths:
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        bad = [line for line in lines if any(w in line.lower() for w in words)]
        if bad:
            found += len(bad)
            say(f"{path.name}: {len(bad)} line(s) with errors/warnings, e.g.:\n  " + "\n  ".join(bad[:8]))
    if not found:
        say("logs: no errors, warnings, deadlocks or serialization failures in the servers' or PostgreSQL's logs")


# --- the table ------------------------------------------------------------------------------

def _latency_rows(values: Optional[List[float]], what: str, median_target: str = "",
                  median_limit: Optional[float] = None, p95_target: str = "",
                  p95_limit: Optional[float] = None) -> List[Row]:
    """Median and p95 rows (ms) of `values`; None when the figure could not be measured."""
    def row(q: int, target: str, limit: Optional[float]) -> Row:
        value = percentile(values, q) * 1000 if values else None
        check = (lambda o, p: o <= limit) if limit is not None else None
        return Row(f"postgres: {what}, {'median' if q == 50 else 'p95'}", value, None, "ms", target, check, 1)

    return [row(50, median_target, median_limit), row(95, p95_target, p95_limit)]


def _queue_rows(got: Optional[Tuple[List[float], List[float]]], how: str) -> List[Row]:
    match, none = got if got else (None, None)
    return (_latency_rows(match, f"get_runs_in_queue at {RUNS:,} runs ({DUE:,} due{how})", "<= 50 ms", 50.0,
                          "<= 50 ms", 50.0)
            + _latency_rows(none, f"get_runs_in_queue at {RUNS:,} runs (none match{how})", "<= 50 ms", 50.0,
                            "<= 50 ms", 50.0))



def run(bench: Bench) -> List[Row]:
    before = _machine()
    time.sleep(3.0)
    after = _machine()
    say(f"before starting: the machine's CPUs are {(after[0] - before[0]) / 3.0:.2f} cores busy "
        f"(of {os.cpu_count()}) with other processes")
    cluster = start_cluster()
    try:
        creates = creates_per_second(bench, cluster)
        scale = at_scale(bench, cluster)
        scan_logs(bench, cluster)
    finally:
        cluster.stop()
    rates = {name: [f["rate"] for f in figures] for name, figures in creates.items()}
    sqlite, pg = median(rates["sqlite-1"]), {n: median(rates[f"postgresql-{n}"]) for n in PROCESS_COUNTS}
    paired = lambda top, bottom: median([t / b for t, b in zip(rates[top], rates[bottom])])  # noqa: E731
    for name, values in rates.items():
        say(f"creates/s of {name} per round: {', '.join(f'{v:.0f}' for v in values)}")
    lower = lambda limit: (lambda o, p: o <= limit)  # noqa: E731
    load = f"{CLIENTS} client processes"
    rows = [Row(f"postgres: creates/s, SQLite, 1 server process ({load})", sqlite, None, "/s", digits=0)]
    for n in PROCESS_COUNTS:
        rows.append(Row(f"postgres: creates/s, PostgreSQL, {n} server process{'es' if n > 1 else ''} ({load})",
                        pg[n], None, "/s", digits=0))
    rows += [
        Row("postgres: creates/s, 2 processes / 1 process", paired("postgresql-2", "postgresql-1"), None, "x",
            ">= 1.3x", lambda o, p: o >= 1.3),
        Row("postgres: creates/s, 4 processes / 1 process", paired("postgresql-4", "postgresql-1"), None, "x"),
        Row("postgres: creates/s, PostgreSQL 1 process / SQLite 1 process", paired("postgresql-1", "sqlite-1"),
            None, "x"),
    ]
    if scale["queue"] is not None or not scale.get("queue_serial"):
        rows += _queue_rows(scale["queue"], "")
    else:
        rows.append(Row(f"postgres: get_runs_in_queue at {RUNS:,} runs: FAILED with default settings (see log)",
                        None, None, "ms", "<= 50 ms", lower(50.0)))
        rows += _queue_rows(scale["queue_serial"], ", parallel query off")
    rows += _latency_rows(scale["idem"], f"create with an existing key at {RUNS:,} runs", "<= 5 ms", 5.0)
    rows += _latency_rows(scale["lookup"], f"find_child_flow with a key at {RUNS:,} runs", "<= 5 ms", 5.0)
    watch = scale["watch"][0] if scale["watch"] else None
    rows += _latency_rows(watch, f"pushed wait across processes, after the change's response, of {WATCHES}",
                          "<= 20 ms", 20.0, "<= 100 ms", 100.0)
    from_request = scale["watch"][1] if scale["watch"] else None
    rows += _latency_rows(from_request, f"pushed wait across processes, after the change was sent, of {WATCHES}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (servers' logs, SQLite file)")
    args = parser.parse_args()
    bench = Bench().start()
    try:
        rows = run(bench)
    finally:
        bench.stop(keep=args.keep)
        if args.keep:
            say(f"kept {bench.home}")
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
