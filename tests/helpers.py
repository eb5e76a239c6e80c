"""Helpers shared by the tests: waiting, agents, registration."""
import os
import socket
import subprocess
import threading
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

from tasks_flowrun.prefect_env import prefect_variables



def wait_until(predicate: Callable[[], object], timeout: float = 60.0, interval: float = 0.1,
               what: Union[str, Callable[[], str]] = "") -> object:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout` seconds.
    `what` names the awaited condition in the failure (a callable is asked then, for details)."""
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the condition may not be checkable yet
            last_exc = exc
        time.sleep(interval)
    if callable(what):
        what = what()
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate!r}; last error: {last_exc!r}")


def prefect_env(url: str, home: Path) -> Dict[str, str]:
    """Environment that points a Prefect 1 process at the embedded backend at `url`."""
    return {**os.environ, **prefect_variables(url, home), "PYTHONUNBUFFERED": "1"}


def start_agent(env: Dict[str, str], log_path: Path, labels: List[str] = (), fast: bool = True,
                extra_args: List[str] = ()) -> subprocess.Popen:
    """Start a real Prefect agent in a subprocess.

    `fast=True` runs `tasks-flowrun agent` (a LocalAgent whose flow processes are forked from
    a warm process; it polls every 0.5 s and kills its flow processes when stopped), with
    `extra_args`; its limit is 12 runs at once (waiting parents hold a slot each, and the
    tests nest and fan out). `fast=False` runs exactly `prefect agent local start`.
    """
    label_args: List[str] = []
    for label in labels:
        label_args += ["--label", label]
    if fast:
        cmd = [sys.executable, "-m", "tasks_flowrun.cli", "agent", "--name", "test-agent", "--show-flow-logs",
               "--stop-runs-on-exit", "--limit", "12", *label_args, *extra_args]
    else:
        cmd = [sys.executable, "-m", "prefect", "agent", "local", "start", *label_args]
    log = open(log_path, "ab")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_at_once(call: Callable[[], object], threads: int, timeout: float = 60.0) -> List[object]:
    """Run `call` in `threads` threads released together (a barrier); return their results.

    Fails the test with the first errors if any call raised.
    """
    barrier = threading.Barrier(threads)
    results: List[object] = []
    failures: List[str] = []

    def worker() -> None:
        barrier.wait(timeout=30)
        try:
            results.append(call())
        except BaseException as exc:  # reported below
            failures.append(repr(exc))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=timeout)
    assert not failures, failures[:3]
    assert len(results) == threads, f"only {len(results)} of {threads} calls returned"
    return results


def read_http_message(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 message from `sock`: its headers, then its Content-Length of body
    (the two may arrive in separate segments); what came before EOF if it ends early."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything `sock` receives until its peer closes the connection."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
