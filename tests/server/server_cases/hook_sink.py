"""A local HTTP server that records what cloud hooks send it (a stand-in for a webhook
receiver, Slack, Twilio or PagerDuty), and a port that accepts connections but never answers."""
import base64
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List
from urllib.parse import parse_qs


class HookSink:
    """Records every POST: path, headers (lower-case names), JSON body or form fields."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        self._changed = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
                headers = {k.lower(): v for k, v in self.headers.items()}
                if headers.get("content-type", "").startswith("application/json"):
                    parsed: Any = json.loads(body)
                else:
                    parsed = {k: v[0] for k, v in parse_qs(body).items()}
                with sink._changed:
                    sink.requests.append({"path": self.path, "headers": headers, "body": parsed})
                    sink._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], count: int = 1,
                 timeout: float = 10.0) -> List[Dict[str, Any]]:
        """The recorded requests matching `predicate`, once there are `count` of them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self.requests if predicate(r)]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._changed.wait(left)

    def last(self) -> Dict[str, Any]:
        assert self.requests, "the hook was not called"
        return self.requests[-1]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class SilentPort:
    """A port whose connections are accepted by the kernel and then never answered."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/hang"

    def close(self) -> None:
        self._socket.close()


def refused_url() -> str:
    """A URL on a port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/refused"
