"""Whether a POST comes from the backend's own web page (same origin), which browsers mark with
an `Origin` header the cross-site rule would otherwise refuse."""
import ipaddress

from starlette.requests import Request

from ..settings import ServerSettings


def _is_address(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        ipaddress.ip_address(hostname.strip("[]"))
        return True
    except ValueError:
        return False


def same_origin_page(request: Request, settings: ServerSettings) -> bool:
    """True when `Origin` is the very origin the request was sent to. Without an API key the host
    must be an address or `localhost`: a DNS name could be pointed at this port by another
    site (DNS rebinding), whose page would then look same-origin. With a key, that page
    would still have no key to send."""
    origin = request.headers.get("origin")
    host = request.headers.get("host")
    if not origin or not host or origin != f"{request.url.scheme}://{host}":
        return False
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return bool(settings.api_key) or _is_address(hostname)
