"""`python -m tests.both_stores [pytest args]`: the whole suite on SQLite and on PostgreSQL at
once (what `tox -e tests` runs). The tests mostly wait on processes and HTTP, so passes side
by side take little longer than the slowest one alone, where one after the other would take
them all. Each line is shown as it comes, prefixed by its pass.

Four passes:

- SQLite: the suite less the `slow_fault` tests and the repository's own checks;
- SQLite, `slow_fault` tests: each waits out heartbeat timeouts and recovery grace periods (a
  minute or more) around faults of processes (flow processes killed or starved, agents
  vouching for them) rather than of the store; with them, to even out the passes' times,
  the `repository_check` tests (the modules directly under tests/: command line,
  configuration, examples, README, packaging, layering);
- SQLite, `backend_outage` tests: the `slow_fault` tests of the backend itself stopped,
  killed or suspended (about a minute each, mostly waiting: a pass of their own keeps them
  from being the longest pass);
- PostgreSQL: the store's tests (POSTGRESQL_PATHS below) less the `slow_fault` tests and less the end-to-end tests (`e2e`:
  real agents and flow processes driving the backend through the same GraphQL as on SQLite),
  except those marked `postgresql_e2e` (the store's own change feed and idempotency, several
  server processes on one database). The chaos suite (`tox -e chaos`) runs fan-outs through
  real agents on PostgreSQL, with faults of the backend, the agents and PostgreSQL itself.

A few tests measure time (a page opening within a second, a request answered within one), and
two passes share the machine's cores: a pass that fails only a few tests runs those again
alone, once, and says so. The exit status is 0 only if each pass passed, at once or alone.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Tuple

from tests.stores import POSTGRESQL, SQLITE, STORES

MAX_RERUN = 5  # more failures than this are no matter of timing: no rerun
WIDTH = max(len(name) for name in ("sqlite outages", *STORES)) + len(" alone")
_print_lock = threading.Lock()


Pass = Tuple[subprocess.Popen, threading.Thread]  # a pytest process, and the thread showing its lines


# pass name -> (store, marker expression)
PASSES: Dict[str, Tuple[str, str]] = {
    SQLITE: (SQLITE, "not slow_fault and not repository_check"),
    "sqlite faults": (SQLITE, "(slow_fault and not backend_outage) or repository_check"),
    "sqlite outages": (SQLITE, "slow_fault and backend_outage"),
    POSTGRESQL: (POSTGRESQL, "not slow_fault and (not e2e or postgresql_e2e)"),
}
NO_TESTS = 5  # pytest's exit status when the arguments select no test of a pass


def run(args: List[str]) -> int:
    started = time.monotonic()
    for name in PASSES:  # failures of an earlier run must not count as this run's
        _lastfailed_path(name).unlink(missing_ok=True)
    passes = {name: _start(name, args) for name in PASSES}
    codes = _wait(passes)
    verdicts = {}
    for name, code in codes.items():
        failed = _last_failed(name)
        if code == 1 and 0 < len(failed) <= MAX_RERUN:
            _say(f"{name} pass: {len(failed)} failed side by side, run again alone: {', '.join(failed)}")
            code = _wait({name: _start(name, [*args, "--last-failed"], label=f"{name} alone")})[name]
            verdicts[name] = "passed alone (failed side by side: timing?)" if code == 0 else "FAILED, alone too"
        elif code == NO_TESTS:
            verdicts[name] = "no test selected"
            code = 0
        else:
            verdicts[name] = "passed" if code == 0 else f"FAILED (exit {code})"
        codes[name] = code
    for name, verdict in verdicts.items():
        _say(f"{name} pass: {verdict}")
    _say(f"both stores in {(time.monotonic() - started) / 60:.1f} min")
    return 0 if all(code == 0 for code in codes.values()) else 1


# Without test paths among the arguments, the PostgreSQL pass runs the tests that exercise
# the store (the API's reads and writes, recovery, the change feed, several server processes);
# the command line, the web page, the agent's processes and the examples go through the same
# API and run on SQLite.
POSTGRESQL_PATHS = ["tests/server", "tests/scaleout", "tests/tasks", "tests/client", "tests/lifecycle"]


def _start(name: str, args: List[str], label: str = "") -> Pass:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as soon as pytest writes it
    store, markers = PASSES[name]
    if store == POSTGRESQL and not any(arg.startswith("tests") for arg in args):
        args = [*args, *POSTGRESQL_PATHS]
    command = [sys.executable, "-m", "pytest", f"--store={store}", "-m", markers, "-o", f"cache_dir={_cache_dir(name)}",
               *args]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    relay = threading.Thread(target=_relay, args=(proc, f"[{label or name:<{WIDTH}}] "))
    relay.start()
    return proc, relay


def _relay(proc: subprocess.Popen, prefix: str) -> None:
    for line in proc.stdout:
        with _print_lock:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()


def _wait(passes: Dict[str, Pass]) -> Dict[str, int]:
    try:
        codes = {store: proc.wait() for store, (proc, _thread) in passes.items()}
    except KeyboardInterrupt:  # stop every pass the same way, and let them clean up (the cluster)
        for proc, _thread in passes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _thread in passes.values():
            proc.wait()
        raise
    for _proc, relay in passes.values():
        relay.join()  # every line shown before the verdicts
    return codes


def _cache_dir(name: str) -> str:
    return f".pytest_cache/{name.replace(' ', '-')}"  # one per pass: `--last-failed` reads its own pass's failures


def _lastfailed_path(name: str) -> Path:
    return Path(_cache_dir(name)) / "v" / "cache" / "lastfailed"


def _last_failed(name: str) -> List[str]:
    try:
        return sorted(json.loads(_lastfailed_path(name).read_text()))
    except (OSError, ValueError):
        return []


def _say(text: str) -> None:
    with _print_lock:
        print(text, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(run(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
