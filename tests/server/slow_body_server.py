"""A uvicorn server with the backend's connection settings (`uvicorn_options`) whose one app
starts every answer, says so in a file, then waits a minute before sending its body: the
window in which a backend killed mid-answer leaves its client whatever bytes it already
wrote. Usage: python -m tests.server.slow_body_server <port file> <started file>"""
import asyncio
import socket
import sys
from pathlib import Path

import uvicorn

from tasks_flowrun.server.http.connections import uvicorn_options
from tasks_flowrun.server.settings import ServerSettings

BODY = b'{"data": {"hello": "too late"}}'


def app_writing_to(started: Path):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]})
        started.write_text("started")
        await asyncio.sleep(60)
        await send({"type": "http.response.body", "body": BODY})

    return app


def main(port_file: str, started_file: str) -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    options = {**uvicorn_options(ServerSettings(port=0)), "lifespan": "off"}
    server = uvicorn.Server(uvicorn.Config(app_writing_to(Path(started_file)), **options))
    Path(port_file).write_text(str(sock.getsockname()[1]))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(*sys.argv[1:])
