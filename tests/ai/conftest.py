"""Fixtures of the AI tests: the dbt fixtures of tests/dbt (one parse per session, in-process dbt)."""

from __future__ import annotations

import tests.dbt.conftest as dbt_fixtures

globals().update(
    {
        name: value
        for name, value in vars(dbt_fixtures).items()
        if type(value).__name__ == "FixtureFunctionDefinition"
    }
)
