"""The warm zygote: a single-threaded process with Prefect imported that forks flow processes.

Usage (started by the agent, see `zygote_client.py`):
    python -m tasks_flowrun.agent.zygote --requests-fd R --events-fd E [--preload MODULE ...]

It imports Prefect (and the `--preload` modules) once, then waits on its request pipe. For
each request it forks: the child runs one flow run (`child.py`), the zygote answers with the
child's pid. It reaps its children (SIGCHLD wakes its `select`) and reports each exit at once.
It starts no thread, so forking it is safe; it ends when the agent closes the request pipe.
"""
import argparse
import importlib
import os
import select
import signal
import sys
import threading
from typing import Dict, List, Optional

from .protocol import LineReader, exit_status, send

WARM_IMPORTS = (
    "prefect",
    "prefect.cli.execute",
    "prefect.engine.cloud",
    "prefect.executors",
    "prefect.storage",
    "prefect.run_configs",
    "prefect.serialization.storage",
    "prefect.tasks.secrets",
    "requests",
)


class ChildOrder:
    """What a freshly forked child must do: the request, and the pipe end it marks success on."""

    def __init__(self, request: Dict, marker_fd: int) -> None:
        self.request = request
        self.marker_fd = marker_fd


class Zygote:
    """The request loop. `serve()` returns only in a forked child, with its order."""

    def __init__(self, requests_fd: int, events_fd: int) -> None:
        self.requests_fd = requests_fd
        self.events_fd = events_fd
        self.markers: Dict[int, int] = {}  # child pid -> read end of its success marker
        self.wake_r, self.wake_w = os.pipe()

    def serve(self) -> Optional[ChildOrder]:
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the agent, which stops us
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears it
        signal.set_wakeup_fd(self.wake_w)
        reader = LineReader(self.requests_fd)
        send(self.events_fd, {"ready": os.getpid()})
        while True:
            readable, _, _ = select.select([self.requests_fd, self.wake_r], [], [], 1.0)
            if self.wake_r in readable:
                self._drain_wakeups()
            self._reap()
            if self.requests_fd not in readable:
                continue
            try:
                requests = list(reader.read())
            except EOFError:
                return None  # the agent is gone
            for request in requests:
                order = self._fork(request)
                if order is not None:
                    return order

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while self.markers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            marker = self.markers.pop(pid, None)
            clean = False
            if marker is not None:
                try:
                    clean = os.read(marker, 1) == b"1"
                except BlockingIOError:
                    pass
                os.close(marker)
            send(self.events_fd, {"exited": pid, "status": exit_status(status), "clean": clean})

    def _fork(self, request: Dict) -> Optional[ChildOrder]:
        marker_r, marker_w = os.pipe()
        os.set_blocking(marker_r, False)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(marker_r)
            os.close(marker_w)
            send(self.events_fd, {"id": request.get("id"), "error": f"fork failed: {exc}"})
            return None
        if pid == 0:
            self._become_child(marker_r)
            return ChildOrder(request, marker_w)
        os.close(marker_w)
        self.markers[pid] = marker_r
        send(self.events_fd, {"id": request.get("id"), "pid": pid})
        return None

    def _become_child(self, own_marker_r: int) -> None:
        """Drop everything of the zygote: its pipes, its signal set-up, its other children."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Prefect cancels with SIGINT
        for fd in [self.requests_fd, self.events_fd, self.wake_r, self.wake_w, own_marker_r,
                   *self.markers.values()]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.markers.clear()


def warm_up(preload: List[str]) -> None:
    """Import Prefect and the user's modules now, so that every fork starts with them."""
    for name in (*WARM_IMPORTS, *preload):
        importlib.import_module(name)
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        print(f"tasks-flowrun agent: warning: a preloaded module started threads ({names}); "
              "forked flow processes do not have them", file=sys.stderr, flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tasks_flowrun.agent.zygote")
    parser.add_argument("--requests-fd", type=int, required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--preload", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        warm_up(args.preload)
    except Exception as exc:
        send(args.events_fd, {"failed": f"cannot preload: {exc!r}"})
        return 1
    order = Zygote(args.requests_fd, args.events_fd).serve()
    if order is None:
        return 0
    from .child import run_order

    return run_order(order.request, order.marker_fd)


if __name__ == "__main__":
    sys.exit(main())
