"""A `--preload` module for `bench_child_cost.py` only: it records, in every flow process the
zygote forks, when each phase of the run happens and every API request it sends.

Imported by the zygote (which forks flow processes with it already imported): it wraps a
few Prefect functions with timers (a measuring spy, like `common.RequestLog`; never used
outside this benchmark) and, in each forked child, writes its events as JSON to
`$TRACE_DIR/<pid>.json` when the process exits (its last atexit handler).

Event: [name, wall start, wall end, thread name, process CPU seconds at the end, at the start]
(CPU of the whole process: its heartbeat and log threads included).
"""
import atexit
import functools
import gc
import json
import os
import threading
import time
from typing import Any, Callable, List

EVENTS: List[list] = []
TRACE_DIR = os.environ.get("TRACE_DIR", "")


def event(name: str, start: float, end: float, cpu_start: float = -1.0) -> None:
    cpu = time.process_time()
    EVENTS.append([name, start, end, threading.current_thread().name, cpu, cpu if cpu_start < 0 else cpu_start])


_gc_started: List[float] = []


def _gc_timer(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_started[:] = [time.time()]
    elif _gc_started:
        event(f"gc generation {info.get('generation')}", _gc_started[0], time.time())


def _in_child() -> None:
    EVENTS.clear()
    now = time.time()
    event("fork", now, now)
    atexit.register(_write)  # registered first in the child: runs after every other handler
    gc.callbacks.append(_gc_timer)


def _write() -> None:
    now = time.time()
    event("atexit done", now, now)
    if TRACE_DIR:
        run_id = os.environ.get("PREFECT__CONTEXT__FLOW_RUN_ID")
        with open(os.path.join(TRACE_DIR, f"{os.getpid()}.json"), "w") as handle:
            json.dump({"flow_run_id": run_id, "pid": os.getpid(), "events": EVENTS}, handle)


def _timed(owner: Any, attribute: str, label: Callable[..., str]) -> None:
    original = getattr(owner, attribute)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start, cpu_start = time.time(), time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            event(label(*args, **kwargs), start, time.time(), cpu_start)

    setattr(owner, attribute, timed)


def _request_name(client: Any, method: str, path: str, params: Any = None, *args: Any, **kwargs: Any) -> str:
    query = str(params.get("query", "")) if isinstance(params, dict) else ""
    # the first root field: what the request does (set_task_run_states, flow_run_by_pk, ...)
    body = query.split("{", 1)[1] if "{" in query else ""
    name = body.replace("(", " ").replace("{", " ").split()
    return "request " + (name[0] if name else path)


def install() -> None:
    from prefect.cli import execute
    from prefect.client.client import Client
    from prefect.engine.cloud import CloudFlowRunner, CloudTaskRunner
    from prefect.storage import Local

    from tasks_flowrun.agent import child

    _timed(Client, "_request", _request_name)
    _timed(Local, "get_flow", lambda *a, **k: "load flow from storage")
    _timed(CloudFlowRunner, "run", lambda *a, **k: "flow runner")
    _timed(CloudTaskRunner, "run", lambda *a, **k: "task runner")
    _timed(execute.flow_run, "main", lambda *a, **k: "run flow")  # when the agent sent no flow
    _timed(child, "_run_flow", lambda *a, **k: "run flow")
    for name in ("_redirect_stdio", "_apply_environment", "_set_run_ids", "_install_prefect_config"):
        _timed(child, name, lambda *a, _n=name, **k: f"child {_n}")
    os.register_at_fork(after_in_child=_in_child)


install()
