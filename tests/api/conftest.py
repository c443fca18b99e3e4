"""Fixtures of the API tests: the dbt tests' database and dbt, a built world and the real server (world.py)."""

from tests.api.world import server, world  # noqa: F401 (pytest fixtures, found by name)
from tests.dbt.conftest import (  # noqa: F401 (pytest fixtures, found by name)
    make_dbt,
    module_db,
    module_landing,
    session_dbt,
)
