"""An HTTP proxy in front of the backend that loses answers: the request reaches the backend
(which commits it), the answer never reaches the client, whose connection is closed, as when
a backend stops right after committing. Which answers are lost is the caller's choice. It can
also answer a request itself, which then never reaches the backend (an error, say)."""
import json
import socket
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from tests.helpers import read_http_message, read_until_closed


def json_answer(body: Dict[str, Any]) -> bytes:
    """An HTTP 200 answer with this JSON body, closing the connection."""
    data = json.dumps(body).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % len(data)) + data


class LossyProxy:
    """Forwards one request per connection to `target` ("host", port); when `lose(request)`
    says so, the backend's answer is read and dropped and the client's connection closed.
    `lost` lists the requests whose answers were lost. When `instead(request)` gives an
    answer (the whole HTTP message), the client gets it and the backend never sees the
    request; `answered` lists those requests."""

    def __init__(self, target: Tuple[str, int], lose: Callable[[bytes], bool],
                 instead: Optional[Callable[[bytes], Optional[bytes]]] = None) -> None:
        self.target = target
        self.lose = lose
        self.instead = instead
        self.lost: List[bytes] = []
        self.answered: List[bytes] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            request = read_http_message(client)
            if b"\r\n\r\n" not in request:
                return
            if self.instead is not None:
                with self._lock:
                    own = self.instead(request)
                    if own is not None:
                        self.answered.append(request)
                if own is not None:
                    client.sendall(own)
                    return
            # one request per connection: the backend closes after answering
            request = request.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
            with socket.create_connection(self.target) as backend:
                backend.sendall(request)
                answer = read_until_closed(backend)
            with self._lock:
                drop = self.lose(request)
                if drop:
                    self.lost.append(request)
            if not drop:
                client.sendall(answer)

    def close(self) -> None:
        self._listener.close()
