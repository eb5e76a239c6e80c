"""Fixtures of the client tests: the request counter is shared with the task tests."""
from tests.tasks.conftest import requests_counter  # noqa: F401  (re-exported fixture)
