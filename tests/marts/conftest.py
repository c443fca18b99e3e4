"""The marts tests reuse the dbt tests' fixtures: real PostgreSQL, the real loader, real dbt in-process."""

from tests.dbt.conftest import (  # noqa: F401 (pytest fixtures, found by name)
    make_dbt,
    module_db,
    module_landing,
    session_dbt,
)
