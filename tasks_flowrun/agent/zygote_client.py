"""The agent's handle on its zygote: start it, ask it for flow processes, hear their exits."""
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional

from .protocol import LineReader, send

ExitCallback = Callable[[int, int, bool, bool], None]  # pid, status (returncode style), clean, unfinished
FinishedCallback = Callable[[int], None]  # pid whose flow runner returned (the process is exiting)
LostCallback = Callable[[List[int]], None]  # pids whose exits can no longer be reported


class ZygoteError(RuntimeError):
    """The zygote could not start, or could not fork a flow process."""


class ZygoteClient:
    """Starts `python -m tasks_flowrun.agent.zygote` and talks to it (thread-safe).

    Args:
        - preload (List[str]): modules the zygote imports before forking
        - on_exit (callable): called with (pid, status, clean, unfinished) when a flow process
            ends, from the reader thread (see `protocol.py`)
        - on_lost (callable): called with the pids of still-running flow processes when the
            zygote itself dies (nobody reaps them any more; called with `[]` when it had
            none), from the reader thread, unless the zygote was stopped with `stop()`
        - on_finished (callable, optional): called with the pid of a flow process whose
            flow runner returned, before the process exits
        - start_timeout (float): seconds to wait for the zygote to be warm
        - env (dict, optional): the zygote's environment (default: the agent's)
    """

    def __init__(self, preload: List[str], on_exit: ExitCallback, on_lost: LostCallback,
                 on_finished: Optional[FinishedCallback] = None, start_timeout: float = 120.0,
                 env: Optional[Dict[str, str]] = None) -> None:
        self.preload = list(preload)
        self.env = env
        self.on_exit = on_exit
        self.on_lost = on_lost
        self.on_finished = on_finished
        self.start_timeout = start_timeout
        self.starts = 0  # zygotes started so far
        self._lock = threading.Lock()
        self._process: Optional[subprocess.Popen] = None
        self._requests_fd: Optional[int] = None
        self._pending: Dict[int, Future] = {}
        self._children: set = set()
        self._next_id = 0
        self._ready: Optional[Future] = None
        self._stopped: set = set()  # zygotes stopped on purpose (their end is no loss)

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    def pids(self) -> List[int]:
        """The zygote processes this client started and has not reaped yet."""
        with self._lock:
            found = {p.pid for p in self._stopped if p.returncode is None}
            if self._process is not None:
                found.add(self._process.pid)
            return sorted(found)

    def start(self) -> None:
        """Start the zygote (if it is not running) and wait until it is warm."""
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        requests_r, requests_w = os.pipe()
        events_r, events_w = os.pipe()
        command = [sys.executable, "-m", "tasks_flowrun.agent.zygote",
                   "--requests-fd", str(requests_r), "--events-fd", str(events_w)]
        for module in self.preload:
            command += ["--preload", module]
        try:
            process = subprocess.Popen(command, pass_fds=(requests_r, events_w), stdin=subprocess.DEVNULL,
                                       env=self.env)
        finally:
            os.close(requests_r)
            os.close(events_w)
        self._process, self._requests_fd = process, requests_w
        self.starts += 1
        ready: Future = Future()
        self._ready = ready
        threading.Thread(target=self._read_events, args=(process, events_r, ready),
                         name="zygote-events", daemon=True).start()
        try:
            ready.result(timeout=self.start_timeout)
        except Exception as exc:
            self._stop_locked()
            raise ZygoteError(f"the zygote did not start: {exc}") from None

    def spawn(self, env: Dict[str, str], cwd: Optional[str], show_logs: bool, timeout: float = 60.0,
              **order: Any) -> int:
        """Fork a flow process with this environment and working directory (and the other
        fields of `order`, see `protocol.py`); returns its pid."""
        with self._lock:
            self._start_locked()
            self._next_id += 1
            request_id = self._next_id
            answer: Future = Future()
            self._pending[request_id] = answer
            assert self._requests_fd is not None
            try:
                send(self._requests_fd, {**order, "id": request_id, "env": env, "cwd": cwd, "show_logs": show_logs})
            except OSError as exc:
                self._pending.pop(request_id, None)
                raise ZygoteError(f"the zygote is gone: {exc}") from None
        return answer.result(timeout=timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the request pipe (the zygote then exits) and wait for it. Flow processes
        already started keep running."""
        with self._lock:
            self._stop_locked(timeout)

    def _stop_locked(self, timeout: float = 10.0) -> None:
        if self._process is not None:
            self._stopped.add(self._process)
        if self._requests_fd is not None:
            os.close(self._requests_fd)
            self._requests_fd = None
        process, self._process = self._process, None
        if process is not None:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _read_events(self, process: subprocess.Popen, events_fd: int, ready: Future) -> None:
        reader = LineReader(events_fd)
        try:
            while True:
                for event in reader.read():
                    self._handle(event, ready)
        except (EOFError, OSError):
            pass
        finally:
            os.close(events_fd)
            if not ready.done():
                ready.set_exception(ZygoteError("it exited before it was warm"))
            self._zygote_gone(process)

    def _handle(self, event: Dict, ready: Future) -> None:
        if "ready" in event:
            ready.set_result(event["ready"])
        elif "failed" in event:
            ready.set_exception(ZygoteError(event["failed"]))
        elif "finished" in event:
            if self.on_finished is not None:
                self.on_finished(event["finished"])
        elif "exited" in event:
            self._children.discard(event["exited"])
            self.on_exit(event["exited"], event["status"], event["clean"], event.get("unfinished", False))
        elif "id" in event:
            answer = self._pending.pop(event["id"], None)
            if answer is None:
                return
            if "pid" in event:
                self._children.add(event["pid"])
                answer.set_result(event["pid"])
            else:
                answer.set_exception(ZygoteError(event.get("error", "unknown error")))

    def _zygote_gone(self, process: subprocess.Popen) -> None:
        with self._lock:
            for answer in self._pending.values():
                answer.set_exception(ZygoteError("the zygote exited"))
            self._pending.clear()
            if self._process is process:
                self._process = None
                if self._requests_fd is not None:
                    os.close(self._requests_fd)
                    self._requests_fd = None
            process.poll()
            orphans, self._children = sorted(self._children), set()
            deliberate = process in self._stopped
            self._stopped.discard(process)
        if not deliberate:
            self.on_lost(orphans)
