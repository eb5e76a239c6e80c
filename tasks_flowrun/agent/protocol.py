"""The messages between the agent and its zygote: one JSON object per line, over two pipes.

Agent -> zygote: `{"id": n, "env": {...}, "cwd": str|null, "show_logs": bool, "flow":
{"name": str, "storage": {...}}, "inherit_config": bool}` asks for a flow process (`flow`:
what to load and run; `inherit_config`: the zygote's environment is the run's but for its
ids, so the child keeps the zygote's Prefect configuration and only sets them). Zygote -> agent: `{"ready": pid}` once warm; `{"id": n, "pid": pid}` (or
`{"id": n, "error": text}`) per request; `{"finished": pid}` when its flow runner returned
(the process is exiting); `{"exited": pid, "status": s, "clean": bool, "unfinished": bool}`
when a flow process ends (`status` like `Popen.returncode`: the exit code, or -signal;
`clean` when its flow runner returned normally, see `child.py`; `unfinished` when it
returned with the run still Running).

A flow process tells the zygote how its flow runner returned by writing one byte to its
marker pipe: `RETURNED`, or `RETURNED_UNFINISHED` when the run was left Running (a task run
waiting for its time, or one whose state could not be set). A process that dies writes
nothing.
"""
import json
import os
from typing import Any, Dict, Iterator

RETURNED = b"1"  # the flow runner returned; the run is not Running
RETURNED_UNFINISHED = b"2"  # the flow runner returned with the run still Running


def send(fd: int, message: Dict[str, Any]) -> None:
    """Write one message; a whole line in one write (pipes keep writes under 4 KiB atomic,
    longer ones are only written by one thread at a time anyway)."""
    data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class LineReader:
    """Splits what arrives on a file descriptor into messages."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def read(self) -> Iterator[Dict[str, Any]]:
        """Read once (blocking); yield the complete messages. Raises EOFError at end of stream."""
        chunk = os.read(self.fd, 65536)
        if not chunk:
            raise EOFError
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield json.loads(line)


def exit_status(wait_status: int) -> int:
    """A `waitpid` status as `Popen.returncode` reports it: the exit code, or -signal."""
    if os.WIFSIGNALED(wait_status):
        return -os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)
