"""Tell the agent that started this flow process when its run waits on other flow runs.

`tasks-flowrun agent` bounds the flow runs that *work* at once (`--limit`). A parent run
that waits for its children does no work, and if it kept its slot, children could never
start once every slot was held by a waiting parent (a deadlock at any nesting depth
deeper than the limit). So the agent gives each flow process the path of a local socket
in `TASKS_FLOWRUN_AGENT_SLOTS`, and the tasks wrap their blocking waits in
`blocked_on_children()`: while at least one such wait is in progress in the process, the
agent counts the run as blocked, not working (see the agent's `--help`).

Under any other agent (no variable) this does nothing. Both `tasks/` and `agent/` import
this module; it imports neither (nor Prefect), so it stays usable from both sides.
"""
import contextlib
import json
import os
import socket
import threading
from typing import Iterator, Optional

# The environment variable naming the agent's socket (a Unix datagram socket).
ENV_VAR = "TASKS_FLOWRUN_AGENT_SLOTS"

_lock = threading.Lock()
_waits = 0  # blocking waits in progress in this process


@contextlib.contextmanager
def blocked_on_children(flow_run_id: Optional[str] = None) -> Iterator[None]:
    """
    Mark the current flow run as blocked on other flow runs for the duration of the block.

    The first wait to start in the process tells the agent "blocked", the last one to end
    tells it "working again". Nothing is sent when the process was not started by
    `tasks-flowrun agent`, and a message the agent cannot take is dropped: a wait never
    fails or stalls because of it.

    Args:
        - flow_run_id (str, optional): the waiting run; defaults to `prefect.context`'s
            `flow_run_id` when Prefect is imported

    Example:
        ```python
        from tasks_flowrun.slots import blocked_on_children

        with blocked_on_children():
            wait_for_the_children()
        ```
    """
    path = os.environ.get(ENV_VAR)
    if not path:
        yield
        return
    run_id = flow_run_id or _current_flow_run_id()
    _change(path, run_id, +1)
    try:
        yield
    finally:
        _change(path, run_id, -1)


def _change(path: str, flow_run_id: Optional[str], step: int) -> None:
    global _waits
    with _lock:  # one message per transition, sent in the order the transitions happen
        before = _waits
        _waits = max(0, _waits + step)
        if (before == 0) != (_waits == 0):
            _send(path, {"run": flow_run_id, "blocked": _waits > 0})


def _send(path: str, message: dict) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(data, socket.MSG_DONTWAIT, path)
    except OSError:
        pass  # the agent is gone or its queue is full: it counts the run as working


def _current_flow_run_id() -> Optional[str]:
    import sys

    prefect = sys.modules.get("prefect")  # a flow process has it; never imported from here
    return prefect.context.get("flow_run_id") if prefect is not None else None
