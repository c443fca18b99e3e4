"""Fixtures of the reliability suite (its helpers are in tests/support/reliability.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.dbt import OWN_MODELS, Dbt, deliver
from tests.support.reliability import RULES_FILES, relations, table_contents


@pytest.fixture(scope="module")
def uninterrupted_marts(
    module_db: str, module_landing: Path, make_dbt: Callable[[str], Dbt]
) -> dict[str, list[tuple]]:
    """The marts of one uninterrupted build of RULES_FILES: what a disturbed run must end with."""
    deliver(module_db, module_landing, RULES_FILES)
    make_dbt(module_db)("run", *OWN_MODELS)
    return table_contents(module_db, relations(module_db, ("marts",)))
