"""Fixtures of the client tests: shared with the task tests (request counter, fresh look-up cache)."""
from tests.tasks.conftest import fresh_flow_cache, requests_counter  # noqa: F401  (re-exported fixtures)
