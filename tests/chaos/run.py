"""`python -m tests.chaos.run [--chaos-seed N] [pytest args]`: the chaos suite on SQLite and
on PostgreSQL at once (what `tox -e chaos` runs), with one seed for both passes, then the
table of both passes' faults.

Unlike `tests.both_stores`, nothing failed is run again alone: a fault that breaks a
guarantee only sometimes is exactly what this suite is for. Each pass keeps its files (the
backend's and agents' logs, the marker files, the SQLite databases) under the folder
printed at the end.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tests.chaos.conftest import ENABLE_VARIABLE, SEED_VARIABLE
from tests.chaos.ledger import REPORT_VARIABLE, load, summary_lines
from tests.stores import STORES

_print_lock = threading.Lock()


def split_seed(args: List[str]) -> Tuple[Optional[int], List[str]]:
    """The `--chaos-seed` among `args` (either spelling), and the other arguments."""
    seed, rest, it = None, [], iter(args)
    for arg in it:
        if arg == "--chaos-seed":
            seed = int(next(it))
        elif arg.startswith("--chaos-seed="):
            seed = int(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return seed, rest


def run(args: List[str]) -> int:
    seed, rest = split_seed(args)
    if seed is None:
        given = os.environ.get(SEED_VARIABLE)
        seed = int(given) if given else random.SystemRandom().randrange(1, 1_000_000)
    folder = Path(tempfile.mkdtemp(prefix="tasks-flowrun-chaos-"))
    _say(f"chaos seed: {seed} (replay: tox -e chaos -- --chaos-seed {seed}); files under {folder}")
    started = time.monotonic()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", ENABLE_VARIABLE: "1", REPORT_VARIABLE: str(folder)}
    passes = {}
    for store in STORES:
        command = [sys.executable, "-m", "pytest", "tests/chaos", f"--store={store}", f"--chaos-seed={seed}",
                   "-p", "no:cacheprovider", f"--basetemp={folder / store}", "-q", *rest]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
        relay = threading.Thread(target=_relay, args=(proc, f"[{store:<10}] "))
        relay.start()
        passes[store] = (proc, relay)
    codes = _wait(passes)
    _say("")
    for line in summary_lines(load(folder)):
        _say(line)
    for store, code in codes.items():
        _say(f"{store} pass: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    _say(f"both stores in {(time.monotonic() - started) / 60:.1f} min; files under {folder}")
    return 0 if all(code == 0 for code in codes.values()) else 1


def _relay(proc: subprocess.Popen, prefix: str) -> None:
    for line in proc.stdout:
        with _print_lock:
            sys.stdout.write(prefix + line)
            sys.stdout.flush()


def _wait(passes: Dict[str, Tuple[subprocess.Popen, threading.Thread]]) -> Dict[str, int]:
    try:
        codes = {store: proc.wait() for store, (proc, _relay_thread) in passes.items()}
    except KeyboardInterrupt:  # stop both passes the same way, and let them clean up
        for proc, _relay_thread in passes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _relay_thread in passes.values():
            proc.wait()
        raise
    for _proc, relay in passes.values():
        relay.join()
    return codes


def _say(text: str) -> None:
    with _print_lock:
        print(text, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(run(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
