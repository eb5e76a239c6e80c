"""The Prefect UI's page queries, as this suite sends them: batched, with the UI's headers.

Written from the UI's documents (its src/graphql/**): the same root fields, arguments,
variable types (Hasura's names) and selections, not the same text.
"""
from typing import Any, Dict, List, Optional

import requests

# what the UI's Apollo links add to every request, in Server mode
UI_HEADERS = {"Content-Type": "application/json", "X-Prefect-UI": "true", "X-Backend": "SERVER",
              "X-Prefect-Tenant-ID": "", "X-Prefect-User-ID": "", "Content-Security-Policy": "default-src 'self'"}


class UiClient:
    """Posts operations the way apollo-link-batch-http does: one JSON array per round."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/") + "/graphql"

    def batch(self, *operations: Dict[str, Any]) -> List[Dict[str, Any]]:
        resp = requests.post(self.url, json=list(operations), headers=UI_HEADERS, timeout=30)
        assert resp.status_code == 200, resp.text
        results = resp.json()
        assert isinstance(results, list) and len(results) == len(operations)
        for operation, result in zip(operations, results):
            assert not result.get("errors"), (operation.get("operationName"), result["errors"])
        return [result["data"] for result in results]

    def one(self, query: str, variables: Optional[Dict[str, Any]] = None, name: str = "") -> Dict[str, Any]:
        return self.batch(op(query, variables, name))[0]


def op(query: str, variables: Optional[Dict[str, Any]] = None, name: str = "") -> Dict[str, Any]:
    return {"operationName": name or None, "query": query, "variables": variables or {}}


def count(data: Dict[str, Any], field: str) -> int:
    return data[field]["aggregate"]["count"]
