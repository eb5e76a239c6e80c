"""A backend killed while it answers leaves its client the whole answer or none of it: never
a head without its body, which Prefect's client does not retry (`ChunkedEncodingError`), so
Prefect's runner gives the task up as `ClientFailed`."""
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import List

from tasks_flowrun.server.http.whole_answers import WholeAnswerTransport
from tests.helpers import read_until_closed, wait_until

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recording:
    def __init__(self) -> None:
        self.writes: List[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def test_a_head_is_written_with_the_first_bytes_of_its_body():
    recording = Recording()
    transport = WholeAnswerTransport(recording)  # type: ignore[arg-type]
    transport.write(HEAD)
    assert recording.writes == []
    transport.write(b"{}")
    assert recording.writes == [HEAD + b"{}"]
    transport.write(b"more")  # a later chunk goes as it comes
    assert recording.writes[-1] == b"more"
    assert transport.is_closing() is False  # anything else is the transport's


def test_an_interim_answer_goes_at_once_and_a_head_without_body_on_flush_or_close():
    recording = Recording()
    transport = WholeAnswerTransport(recording)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert recording.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(HEAD)
    transport.flush()  # the response is complete (a HEAD request, a 204)
    assert recording.writes[-1] == HEAD
    transport.write(HEAD)
    transport.close()
    assert recording.writes[-1] == HEAD and recording.closed


def test_a_server_killed_after_starting_an_answer_leaves_no_byte_of_it(tmp_path: Path):
    port_file, started = tmp_path / "port", tmp_path / "started"
    server = subprocess.Popen([sys.executable, "-m", "tests.server.slow_body_server", str(port_file), str(started)])
    try:
        port = int(wait_until(lambda: port_file.exists() and port_file.read_text(), timeout=30,
                              what="the server to listen"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 2\r\n\r\n{}")
            wait_until(started.exists, timeout=30, what="the app to start its answer")
            os.kill(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
            received = read_until_closed(client)
        assert received == b"", received  # closed without a byte: Prefect's client sends the request again
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
