"""The page's static files, read once from the package into memory (a few dozen KiB)."""
import hashlib
from pathlib import Path
from typing import Dict, NamedTuple

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class Asset(NamedTuple):
    body: bytes
    media_type: str
    etag: str


def load_assets(folder: Path = STATIC) -> Dict[str, Asset]:
    """Every servable file of `folder` by name; names come from the package, never from a request."""
    found: Dict[str, Asset] = {}
    for path in sorted(folder.iterdir()):
        media_type = TYPES.get(path.suffix)
        if path.is_file() and media_type:
            body = path.read_bytes()
            found[path.name] = Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return found
