"""`POST /` and `/graphql`: GraphQL over HTTP, one operation (a JSON object) or a batch (a
JSON array of them, see batch.py).

The guard has checked the key and read the body; here: strict JSON (no NaN/Infinity, no
lone surrogates), then the document runs in a worker thread (a writer's for a mutation)
under the request's time budget, stopped if its client goes away.
"""
import asyncio
import re
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from graphql.language import DocumentNode
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..backend import Backend
from ..graphql.budget import Budget
from ..graphql.context import RequestContext
from ..graphql.executor import only_unavailable, root_fields
from ..metrics import Observed
from ..storage.jsontext import has_lone_surrogate, loads_input
from .batch import BatchRefused, cost_refusal, decode_batch
from .request_stats import RequestStats
from .responses import error_response, json_response
from .workers import Workers

# A request the database could not serve is answered 503 WITHOUT Retry-After: Prefect's
# client (urllib3's Retry, 6 retries) would honour a Retry-After of a few seconds and give up
# within ~15 s, where its own exponential backoff keeps retrying for about a minute (after 0,
# 2, 4, 8, 16 and 32 s), long enough for a database restart or failover.
DISCONNECT_POLL = 0.5  # seconds between two checks that the client of a running request is still there
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a JSON escape of a UTF-16 surrogate
MUTATION = re.compile(r"^\s*mutation\b", re.MULTILINE)  # a document that (probably) writes


def decode_body(raw: bytes) -> Union[Dict[str, Any], List[Dict[str, Any]]]:
    """One operation (a JSON object), or a batch (a JSON array of them)."""
    body = loads_input(raw or b"{}")
    if isinstance(body, list):
        return decode_batch(body, lambda item: _decode_operation(raw, item))
    return _decode_operation(raw, body)


def _decode_operation(raw: bytes, body: Any) -> Dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ValueError("expected a JSON object with a 'query' string")
    variables = body.get("variables")
    if isinstance(variables, str):  # Prefect's client sends variables as JSON text ("null" if none)
        variables = loads_input(variables)
    if variables is not None and not isinstance(variables, dict):
        raise ValueError("'variables' must be a JSON object")
    body["variables"] = variables
    if SURROGATE_ESCAPE.search(raw) and has_lone_surrogate(body):
        raise ValueError("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode")
    return body


def _short(exc: Exception) -> str:
    """An exception's message without its class name, capped (for Malformed request errors)."""
    text = str(exc) or "unreadable body"
    return text if len(text) <= 300 else text[:300] + "..."


class GraphQLRoute:
    """The GraphQL endpoint of one backend (`stats` counts its root fields), run on `workers`."""

    def __init__(self, backend: Backend, stats: RequestStats, workers: Workers) -> None:
        self.backend = backend
        self.stats = stats
        self.workers = workers

    async def __call__(self, request: Request, seen: Observed) -> Response:
        try:
            body = decode_body(request.state.body)
        except ValueError as exc:  # JSON errors, invalid UTF-8 (UnicodeDecodeError) included
            return error_response(f"Malformed request: {_short(exc)}.")
        except BatchRefused as exc:
            return error_response(str(exc), 400, "BATCH_REFUSED")
        headers = {k.lower(): v for k, v in request.headers.items()}
        if isinstance(body, list):
            writes = any(MUTATION.search(item["query"]) for item in body)
            return await self._run(request, lambda budget: self._execute_batch(body, headers, budget, seen), writes)
        return await self._run(request, lambda budget: self._execute(body, headers, budget, seen),
                               bool(MUTATION.search(body["query"])))

    def _prepare(self, body: Dict[str, Any], seen: Observed) -> Tuple[Optional[DocumentNode], List[Dict[str, Any]]]:
        document, errors = self.backend.graphql.prepare(body["query"], body["variables"], body.get("operationName"))
        fields = root_fields(document) if document is not None else []
        self.stats.record(fields)
        seen.document(fields)
        return document, errors

    def _result(self, document: DocumentNode, body: Dict[str, Any], headers: Dict[str, str], budget: Budget
                ) -> Dict[str, Any]:
        backend = self.backend
        # a browser's reads (the Prefect UI polls runs by id) prove no flow process alive
        run_polls = None if "origin" in headers or "x-prefect-ui" in headers else backend.polls
        with RequestContext(backend.db, backend.tenant_id, headers, run_polls, budget, backend.recovery_policy,
                            backend.settings.version_locking, backend.settings) as context:
            result = backend.graphql.run(document, body["variables"], body.get("operationName"), context)
        if result.get("errors") and budget.stopped():  # interrupted: say why, not what broke
            return {"errors": [{"message": budget.reason or "Request stopped.", "extensions": {"code": "TIMEOUT"}}]}
        return result

    def _execute(self, body: Dict[str, Any], headers: Dict[str, str], budget: Budget, seen: Observed) -> Response:
        document, errors = self._prepare(body, seen)
        if document is None:
            return json_response({"errors": errors}, status=400)
        result = self._result(document, body, headers, budget)
        seen.result(result)
        if only_unavailable(result):  # nothing was done: Prefect's client sends it again after a pause
            return json_response(result, status=503)
        return json_response(result)

    def _execute_batch(self, bodies: List[Dict[str, Any]], headers: Dict[str, str], budget: Budget,
                       seen: Observed) -> Response:
        """Each operation on its own, in order, once the batch's summed cost is within the limits."""
        prepared = [self._prepare(body, Observed()) for body in bodies]
        seen.batch()
        refusal = cost_refusal(self.backend.graphql.schema, self.backend.cost_limits,
                               [(document, body) for body, (document, _) in zip(bodies, prepared)
                                if document is not None])
        if refusal is not None:
            return error_response(refusal, 400, "QUERY_TOO_COSTLY")
        results = [{"errors": errors} if document is None else self._result(document, body, headers, budget)
                   for body, (document, errors) in zip(bodies, prepared)]
        for result in results:
            seen.result(result)
        if all(only_unavailable(result) for result in results):
            return json_response(results, status=503)
        return json_response(results)

    async def _run(self, request: Request, work: Callable[[Budget], Response], writes: bool) -> Response:
        """Do `work` in a worker thread (a writer's if it `writes`); if the client goes away
        meanwhile, stop it."""
        budget = Budget(self.backend.settings.request_timeout, self.backend.availability.last_stall)
        if writes:
            task = asyncio.get_running_loop().run_in_executor(self.workers.writers, work, budget)
        else:
            task = asyncio.ensure_future(run_in_threadpool(work, budget))
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL)
            if done:
                return task.result()
            if await request.is_disconnected():
                budget.cancel("Request stopped: the client disconnected.")
