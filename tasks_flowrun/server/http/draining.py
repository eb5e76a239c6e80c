"""A uvicorn server that lets go of held requests as soon as it is asked to stop.

uvicorn stops by closing its listeners, then waiting for the requests in flight. A
`POST /watch` is held for up to a minute, so without this a stopping backend would take that
long to exit, while every flow process retrying against it used up its retries. The hook
runs first thing in `shutdown` (reached by SIGTERM, Ctrl-C and `should_exit` alike).
"""
import socket
from typing import Callable, List, Optional

import uvicorn


class DrainingServer(uvicorn.Server):
    """`uvicorn.Server` that calls `release_held` (answer every held request now) when it
    starts to shut down."""

    def __init__(self, config: uvicorn.Config, release_held: Callable[[], None]) -> None:
        super().__init__(config)
        self.release_held = release_held

    async def shutdown(self, sockets: Optional[List[socket.socket]] = None) -> None:
        self.release_held()
        await super().shutdown(sockets=sockets)
