"""Each HTTP answer reaches the socket in one write: its head together with its body.

uvicorn writes a response's status line and headers as soon as the app starts the response,
and its body with a second write. A backend killed between the two (SIGKILL, OOM, the
machine lost) leaves its client holding a head that promises a body that never comes:
`requests` raises `ChunkedEncodingError` ("IncompleteRead") after urllib3 has already
returned the response, so Prefect's client does not send the request again, and Prefect's
runner leaves the task `ClientFailed` (a mapped task then fails its whole run: "'ClientFailed'
object has no attribute 'map_states'"). Killed before an answer's one write, the backend
leaves no byte of it: the connection just closes, which Prefect's client does retry.

The two writes are a few microseconds apart, but the first releases the interpreter lock,
and a worker thread may then hold it for up to the switch interval (5 ms): under a stream of
answers a kill lands between them now and then.
"""
import asyncio
from typing import Any

STATUS_LINE = b"HTTP/1.1 "
INTERIM = b"HTTP/1.1 1"  # 1xx answers (100 Continue) go out at once: the client waits for them
HEAD_END = b"\r\n\r\n"


class WholeAnswerTransport:
    """A transport (the protocol's view of it) that holds a response's head until the next
    write, its first body bytes, and writes both at once; `flush()` sends a held head (an
    answer without body: HEAD, 204), `close()` does so first. Everything else is the
    transport's."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head = b""

    def write(self, data: bytes) -> None:
        if not self._head and data.startswith(STATUS_LINE) and data.endswith(HEAD_END) \
                and not data.startswith(INTERIM):
            self._head = bytes(data)
            return
        if self._head:
            data, self._head = self._head + data, b""
        self._transport.write(data)

    def flush(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)
