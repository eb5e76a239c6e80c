"""`python -m tests.both_stores [pytest args]`: the whole suite on SQLite and on PostgreSQL at
once (what `tox -e tests` runs). The tests mostly wait on processes and HTTP, so two passes
side by side take little longer than the slower one alone, where one after the other would
take both. Each line is shown as it comes, prefixed by its store; the exit status is 0 only
if both passes passed.
"""
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Dict, List

from tests.stores import STORES


def run(args: List[str]) -> int:
    started = time.monotonic()
    width = max(len(store) for store in STORES)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as soon as pytest writes it
    passes: Dict[str, subprocess.Popen] = {
        store: subprocess.Popen([sys.executable, "-m", "pytest", f"--store={store}", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        for store in STORES
    }
    lock = threading.Lock()

    def relay(store: str, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            with lock:
                sys.stdout.write(f"[{store:<{width}}] {line}")
                sys.stdout.flush()

    relays = [threading.Thread(target=relay, args=item) for item in passes.items()]
    for thread in relays:
        thread.start()
    try:
        codes = {store: proc.wait() for store, proc in passes.items()}
    except KeyboardInterrupt:  # stop both passes the same way, and let them clean up (the cluster)
        for proc in passes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = {store: proc.wait() for store, proc in passes.items()}
    for thread in relays:
        thread.join()
    elapsed = time.monotonic() - started
    for store, code in codes.items():
        print(f"{store} pass: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    print(f"both stores in {elapsed / 60:.1f} min")
    return 0 if all(code == 0 for code in codes.values()) else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
