"""Create many flow runs with few requests.

On the embedded backend, `create_flow_runs` makes up to `BULK_CHUNK` runs in one request and
one transaction (all of them, or none when one is refused). A backend without that mutation
(Prefect Server, Prefect Cloud) is sent one `create_flow_run` per run instead; which
backends lack it is remembered per API address for the life of the process.
"""
import threading
from typing import Any, Dict, List, Sequence, Set

import prefect
import requests
from prefect.exceptions import ClientError

from . import queries
from .errors import BackendRejectedError, backend_messages
from .flow_runs import flow_run_ids_or_refusal

BULK_CHUNK = 500  # runs per create_flow_runs request (the embedded backend takes up to 1,000)

_lacks_bulk: Set[str] = set()  # API addresses whose backend has no create_flow_runs
_lock = threading.Lock()


def lacks_bulk_create(exc: BaseException) -> bool:
    """Whether a refusal says the backend does not know the `create_flow_runs` mutation."""
    text = str(exc)
    return "create_flow_runs" in text and "Cannot query field" in text


class _NoBulk(Exception):
    """The backend has no create_flow_runs."""


def _send_bulk(client: "prefect.Client", chunk: List[Dict[str, Any]], start: int) -> List[str]:
    """One create_flow_runs request for `chunk` (runs `start`...), or two for its halves if
    its body is larger than the backend takes."""
    try:
        result = client.graphql(queries.CREATE_FLOW_RUNS, variables={"input": {"flow_runs": chunk}})
    except ClientError as exc:
        if lacks_bulk_create(exc):
            raise _NoBulk() from None
        raise BackendRejectedError(f"The backend refused to create flow runs {start} to "
                                   f"{start + len(chunk) - 1}: {backend_messages(exc)}") from None
    except requests.HTTPError as exc:
        if exc.response is None or exc.response.status_code != 413 or len(chunk) < 2:
            raise
        half = len(chunk) // 2
        return _send_bulk(client, chunk[:half], start) + _send_bulk(client, chunk[half:], start + half)
    return flow_run_ids_or_refusal(result, "create_flow_runs", len(chunk))


def create_flow_runs(client: "prefect.Client", runs: Sequence[Dict[str, Any]]) -> List[str]:
    """
    Create many flow runs: one request per `BULK_CHUNK` runs on the embedded backend, one
    request per run on any other Prefect 1 backend.

    Each run is made exactly as `create_flow_run` makes it; a used idempotency key gives the
    id of the run first created with it, so sending the same list again is safe.

    Args:
        - client (prefect.Client): the client to send the requests with
        - runs (Sequence[dict]): one `create_flow_run_input` each: the flow (`flow_id`,
            `version_group_id` or `flow_group_id`) and optionally `parameters`, `context`,
            `labels`, `run_config`, `flow_run_name`, `scheduled_start_time` (ISO 8601 text)
            and `idempotency_key`

    Returns:
        - List[str]: the flow run ids, in the order of `runs`

    Raises:
        - TypeError: an entry of `runs` is not a dict
        - BackendRejectedError: the backend refused a run (the message says which and why).
            On the embedded backend nothing of that request was created; runs of earlier
            requests (or, elsewhere, earlier runs) were: with idempotency keys, send the
            corrected list again to get them back and create the rest. A chunk whose body
            is larger than the backend takes (HTTP 413) is sent in halves.
    """
    for index, run in enumerate(runs):
        if not isinstance(run, dict):
            raise TypeError(f"runs[{index}] is a {type(run).__name__}: each run is a dict of create_flow_run fields, "
                            "e.g. {'flow_id': ..., 'parameters': {...}, 'idempotency_key': ...}")
    runs = [{key: value for key, value in run.items() if value is not None} for run in runs]
    server = str(getattr(client, "api_server", None) or prefect.config.cloud.api)
    ids: List[str] = []
    for start in range(0, len(runs), BULK_CHUNK):
        chunk = runs[start:start + BULK_CHUNK]
        with _lock:
            bulk = server not in _lacks_bulk
        if bulk:
            try:
                ids += _send_bulk(client, chunk, start)
                continue
            except _NoBulk:
                with _lock:
                    _lacks_bulk.add(server)
        for offset, run in enumerate(chunk):
            try:
                result = client.graphql(queries.CREATE_FLOW_RUN, variables={"input": run})
            except ClientError as exc:
                raise BackendRejectedError(f"The backend refused to create flow run {start + offset} of the list: "
                                           f"{backend_messages(exc)}") from None
            ids += flow_run_ids_or_refusal(result, "create_flow_run", 1)
    return ids
