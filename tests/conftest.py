"""The suite's shared fixtures live in tests/support, registered here as pytest plugins."""

import pytest

# The helpers' asserts report their operands, as a conftest's would (before they are imported).
pytest.register_assert_rewrite("tests.support")

pytest_plugins = ["tests.support.postgres", "tests.support.dbt"]
