"""`POST /watch`: a held request that answers as soon as one of some flow runs changes.

Body: `{"flow_run_ids": [...], "token": "<from the last answer>" | null, "logs": false,
"timeout": 60}`. Answer: `{"changed": [ids], "token": "..."}`, at once when a run changed
since the token (every run when there is no token), else when one does, or after
`timeout` seconds (at most 60) with `changed: []`. A waiting request holds no thread.

This is how `wait_for_flow_run` learns of a child's new state within milliseconds and
costs one request a minute while nothing happens; against a backend without this
endpoint it polls instead.
"""
import json
from typing import Any, Callable, Dict, List, Optional

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .changes import ChangeFeed

MAX_HOLD = 60.0  # seconds
MAX_IDS = 10_000
MAX_BODY = 1024 * 1024
MAX_WAITERS = 5_000  # held requests at once; past it, new ones are answered at once

Guard = Callable[[Request], Optional[Response]]


def _refuse(message: str, status: int = 400) -> Response:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]},
                        status_code=status)


def _parse(raw: bytes) -> Dict[str, Any]:
    body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    ids = body.get("flow_run_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise ValueError("'flow_run_ids' must be a non-empty list of flow run ids")
    if len(ids) > MAX_IDS:
        raise ValueError(f"at most {MAX_IDS:,} flow run ids per request")
    token = body.get("token")
    if token is not None and not isinstance(token, str):
        raise ValueError("'token' must be the string of a previous answer, or null")
    timeout = body.get("timeout", MAX_HOLD)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= MAX_HOLD:
        raise ValueError(f"'timeout' must be a number of seconds from 0 to {MAX_HOLD:g}")
    return {"ids": list(dict.fromkeys(ids)), "token": token, "logs": bool(body.get("logs")),
            "timeout": float(timeout)}


def watch_endpoint(feed: ChangeFeed, guard: Guard) -> Callable:
    """The `POST /watch` handler over `feed`; `guard` refuses unauthorized or cross-site calls."""

    async def watch(request: Request) -> Response:
        refusal = guard(request)
        if refusal is not None:
            return refusal
        chunks: List[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    return _refuse(f"Request body too large: the limit is {MAX_BODY:,} bytes.", 413)
                chunks.append(chunk)
        except ClientDisconnect:
            return _refuse("The client disconnected.")
        try:
            query = _parse(b"".join(chunks))
        except ValueError as exc:  # json errors included
            return _refuse(f"Malformed watch request: {exc}.")
        timeout = query["timeout"] if feed.waiting() < MAX_WAITERS else 0.0
        changed, token = await feed.wait(query["ids"], query["token"], query["logs"], timeout)
        return JSONResponse({"changed": changed, "token": token})

    return watch
