"""The web page for runs: static ES modules served by the backend, reading the same GraphQL API
as every other client (see the README's "Web page: architecture notes")."""
from .origin import same_origin_page
from .routes import web_routes

__all__ = ["same_origin_page", "web_routes"]
