"""The agent's end of `tasks_flowrun.slots`: a Unix datagram socket in a private directory
on which flow processes say when their run blocks on other flow runs and when it works again.

The kernel tells the agent which process sent each message (`SO_PASSCRED`), so a message
counts only for the run whose process (or one of its descendants in its session) sent it.
"""
import json
import logging
import os
import shutil
import socket
import struct
import tempfile
import threading
from typing import Callable, Optional

from ..slots import ENV_VAR

BlockedCallback = Callable[[int, Optional[str], bool], None]  # sender pid, flow run id, blocked
_UCRED = struct.Struct("3i")  # pid, uid, gid


class SlotChannel:
    """Receives the flow processes' blocked / working messages in a thread.

    Args:
        - on_message (callable): called with (sender pid, flow run id, blocked) per message
        - logger (logging.Logger): where unreadable messages are noted
    """

    def __init__(self, on_message: BlockedCallback, logger: logging.Logger) -> None:
        self.on_message = on_message
        self.logger = logger
        self.directory = tempfile.mkdtemp(prefix="tasks-flowrun-agent-", dir=_short_temp_dir())
        self.path = os.path.join(self.directory, "slots")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.bind(self.path)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="slot-messages", daemon=True)

    @property
    def environment(self) -> dict:
        """What a flow process needs in its environment to reach this channel."""
        return {ENV_VAR: self.path}

    def start(self) -> "SlotChannel":
        self._thread.start()
        return self

    def close(self) -> None:
        self._closed.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _read(self) -> None:
        ancillary = socket.CMSG_SPACE(_UCRED.size)
        while not self._closed.is_set():
            try:
                data, ancdata, _, _ = self._sock.recvmsg(4096, ancillary)
            except OSError:
                return  # closed
            if not data:
                continue
            sender = _sender_pid(ancdata)
            try:
                message = json.loads(data)
                run_id = message.get("run")
                blocked = bool(message["blocked"])
            except (ValueError, KeyError, AttributeError, TypeError):
                self.logger.debug("Ignored an unreadable slot message from pid %s: %r", sender, data[:200])
                continue
            if sender is not None:
                try:
                    self.on_message(sender, run_id if isinstance(run_id, str) else None, blocked)
                except Exception:
                    self.logger.exception("Could not handle a slot message from pid %s", sender)


def _sender_pid(ancdata: list) -> Optional[int]:
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
            return _UCRED.unpack(payload[:_UCRED.size])[0]
    return None


def _short_temp_dir() -> Optional[str]:
    # A Unix socket path holds at most 107 bytes: a long $TMPDIR falls back to /tmp.
    base = tempfile.gettempdir()
    return base if len(base) < 60 else "/tmp"
