"""Routes of the web page: the HTML shell for each page's URL, and the static assets.

`GET /` serves the page to browsers (Accept: text/html); GraphQL stays on `POST /`.
`/<tenant-slug>/flow-run/<id>` is the URL Prefect prints for a run.
"""
from typing import Dict, List

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .assets import Asset, load_assets

# Everything from this origin only; no inline script or style, no framing, no plugins.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGE_PATHS = ("/{slug}/flow-run/{flow_run_id}", "/{slug}/flows", "/{slug}/flow/{flow_group_id}")


def _send(request: Request, asset: Asset) -> Response:
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


def web_routes() -> List[Route]:
    """The page's routes, to add to the backend's app (no data is served here: it comes
    from the GraphQL API, behind the API key when there is one)."""
    assets: Dict[str, Asset] = load_assets()
    shell = assets["index.html"]

    async def root(request: Request) -> Response:
        if "text/html" not in request.headers.get("accept", ""):
            raise HTTPException(405, "Method Not Allowed")
        return _send(request, shell)

    async def page(request: Request) -> Response:
        return _send(request, shell)

    async def asset(request: Request) -> Response:
        found = assets.get(request.path_params["name"])
        if found is None or found is shell:
            raise HTTPException(404, "Not Found")
        return _send(request, found)

    return [Route("/", root, methods=["GET"]), Route("/ui/{name}", asset, methods=["GET"]),
            *(Route(path, page, methods=["GET"]) for path in PAGE_PATHS)]
