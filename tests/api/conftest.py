"""Fixtures of the API tests: a built world and the real server (world.py); the dbt fixtures come
from the dbt plugin (tests/support/dbt.py)."""

from tests.api.world import server, world  # noqa: F401 (pytest fixtures, found by name)
