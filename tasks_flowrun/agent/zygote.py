"""The warm zygote: a single-threaded process with Prefect imported that forks flow processes.

Usage (started by the agent, see `zygote_client.py`):
    python -m tasks_flowrun.agent.zygote --requests-fd R --events-fd E [--preload MODULE ...]

It imports Prefect (and the `--preload` modules) once, freezes what it imported out of the
garbage collector's reach (forked children then neither copy those pages by collecting them
nor spend time traversing them), then waits on its request pipe. For each request it forks:
the child runs one flow run (`child.py`), the zygote answers with the child's pid. Each
child holds the write end of a "finished" pipe: its flow runner returning writes b"1",
which the zygote passes on at once (the run's slot is free before the process has flushed
its logs and exited). The zygote is the subreaper of what its children leave behind and
reaps every child the moment SIGCHLD wakes it, reporting each flow process's exit. It
starts no thread, so forking it is safe; it ends when the agent closes the request pipe.
"""
import argparse
import atexit
import gc
import importlib
import os
import selectors
import signal
import sys
import threading
from typing import Dict, List, Optional, Set

from .protocol import RETURNED, RETURNED_UNFINISHED, LineReader, exit_status, send
from .reaping import become_subreaper

# What every flow process needs and would otherwise import after the fork, run after run:
# Prefect's flow and task runners, executors, storages, results, serializers and client,
# and this package's tasks (parents use them).
WARM_IMPORTS = (
    "prefect",
    "prefect.cli.execute",
    "prefect.engine.cloud",
    "prefect.engine.cloud.flow_runner",
    "prefect.engine.cloud.task_runner",
    "prefect.engine.results",
    "prefect.executors",
    "prefect.storage",
    "prefect.run_configs",
    "prefect.serialization.storage",
    "prefect.serialization.flow",
    "prefect.serialization.state",
    "prefect.tasks.secrets",
    "prefect.utilities.storage",
    "prefect.backend",
    "requests",
    "netrc",
    "shlex",
    "tasks_flowrun.slots",
    "tasks_flowrun.tasks",
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
        self.markers: Dict[int, int] = {}  # child pid -> read end of its "finished" pipe
        self.clean: Dict[int, bool] = {}  # child pid -> its flow runner returned
        self.unfinished: Set[int] = set()  # children whose runner returned with the run still Running
        self.wake_r, self.wake_w = os.pipe()
        self.selector = selectors.DefaultSelector()  # epoll: no limit on the number of children

    def serve(self) -> Optional[ChildOrder]:
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the agent, which stops us
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears it
        signal.set_wakeup_fd(self.wake_w)
        self.selector.register(self.requests_fd, selectors.EVENT_READ, "requests")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        reader = LineReader(self.requests_fd)
        send(self.events_fd, {"ready": os.getpid()})
        while True:
            events = self.selector.select(timeout=1.0)
            requests_ready = False
            for key, _ in events:
                if key.data == "wake":
                    self._drain_wakeups()
                elif key.data == "requests":
                    requests_ready = True
                else:
                    self._marker_ready(key.data)
            self._reap()
            if not requests_ready:
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

    def _marker_ready(self, pid: int) -> None:
        """The child's flow runner returned (a marker byte, see protocol.py), or the child
        closed the pipe by exiting."""
        marker = self.markers.get(pid)
        if marker is None:
            return
        try:
            data = os.read(marker, 1)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self._forget_marker(pid)
        if data in (RETURNED, RETURNED_UNFINISHED):
            self.clean[pid] = True
            if data == RETURNED_UNFINISHED:
                self.unfinished.add(pid)
            send(self.events_fd, {"finished": pid})

    def _forget_marker(self, pid: int) -> None:
        marker = self.markers.pop(pid, None)
        if marker is not None:
            self.selector.unregister(marker)
            os.close(marker)

    def _reap(self) -> None:
        """Reap every exited child: flow processes (reported) and the orphans this
        subreaper adopted (not reported)."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid not in self.markers and pid not in self.clean:
                continue  # an adopted orphan
            if pid in self.markers:  # it may have written its b"1" just before exiting
                self._marker_ready(pid)
                self._forget_marker(pid)
            clean = self.clean.pop(pid, False)
            unfinished = pid in self.unfinished
            self.unfinished.discard(pid)
            send(self.events_fd, {"exited": pid, "status": exit_status(status), "clean": clean,
                                  "unfinished": unfinished})

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
        self.clean[pid] = False
        self.selector.register(marker_r, selectors.EVENT_READ, pid)
        send(self.events_fd, {"id": request.get("id"), "pid": pid})
        return None

    def _become_child(self, own_marker_r: int) -> None:
        """Drop everything of the zygote: its pipes, its signal set-up, its other children."""
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Prefect cancels with SIGINT
        self.selector.close()
        for fd in [self.requests_fd, self.events_fd, self.wake_r, self.wake_w, own_marker_r,
                   *self.markers.values()]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.markers.clear()
        self.clean.clear()
        self.unfinished.clear()


def warm_up(preload: List[str]) -> None:
    """Import Prefect and the user's modules now, so that every fork starts with them."""
    for name in (*WARM_IMPORTS, *preload):
        importlib.import_module(name)
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        print(f"tasks-flowrun agent: warning: a preloaded module started threads ({names}); "
              "forked flow processes do not have them", file=sys.stderr, flush=True)
    gc.collect()
    gc.freeze()  # what is imported now lives as long as the processes: keep it out of every collection


_exit_code: Optional[int] = None  # set in a forked flow process once its run is over


def _skip_teardown() -> None:
    """The last exit handler of a flow process (registered first, in the zygote, before any
    import could register one): every other exit handler has run (Prefect's log upload,
    `logging.shutdown`, the user's), non-daemon threads were joined; what is left is the
    interpreter tearing down every module and object it inherited from the zygote, about
    45 ms of CPU per run for nothing. So it ends the process here, as `multiprocessing` ends
    the processes it forks. No-op in the zygote itself."""
    if _exit_code is None:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(_exit_code)


def main(argv: Optional[List[str]] = None) -> int:
    global _exit_code
    atexit.register(_skip_teardown)
    parser = argparse.ArgumentParser(prog="python -m tasks_flowrun.agent.zygote")
    parser.add_argument("--requests-fd", type=int, required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--preload", action="append", default=[])
    args = parser.parse_args(argv)
    become_subreaper()
    try:
        warm_up(args.preload)
    except Exception as exc:
        send(args.events_fd, {"failed": f"cannot preload: {exc!r}"})
        return 1
    order = Zygote(args.requests_fd, args.events_fd).serve()
    if order is None:
        return 0
    from .child import run_order

    _exit_code = run_order(order.request, order.marker_fd)
    return _exit_code


if __name__ == "__main__":
    sys.exit(main())
