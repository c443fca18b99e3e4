"""Helpers of the quality tests: load a landing zone, validate, read findings and exceptions."""

from __future__ import annotations

from typing import Any

import psycopg

from orchestration.lib.feeds import FEEDS
from orchestration.lib.quality.validation import SuiteOutcome, validate_feeds


def failing(outcomes: list[SuiteOutcome]) -> set[tuple[str, str]]:
    return {(o.suite, e.check_name) for o in outcomes for e in o.expectations if not e.success}


def validate_all(url: str, **kwargs: Any) -> list[SuiteOutcome]:
    return validate_feeds(url, FEEDS, **kwargs)


def gx_findings(url: str) -> set[tuple[str, str, str, str]]:
    """(suite, check, exception type, key json) of every stored failing key."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select suite, check_name, exception_type, key_values::text from quality.gx_findings"
        ).fetchall()
    return {tuple(r) for r in rows}


def exceptions(url: str, *columns: str) -> list[tuple]:
    columns = columns or ("exception_type", "feed", "location_id", "sku", "status")
    order = ", ".join(str(i) for i in range(1, len(columns) + 1))
    with psycopg.connect(url) as conn:
        return conn.execute(
            f"select {', '.join(columns)} from quality.inventory_exceptions order by {order}"
        ).fetchall()
