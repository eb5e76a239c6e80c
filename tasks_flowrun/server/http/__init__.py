"""The HTTP layer of the embedded backend: the routes, the one guard every route goes
through (API key, cross-site rule, requests in flight, body size and time), and uvicorn's
connection settings. It sits above `graphql/` and never holds domain rules itself."""
from .connections import uvicorn_options

__all__ = ["uvicorn_options"]
