"""RECURRING_COUNT_VARIANCE's per-day figures are computed once and again only when their data
changes (orchestration/lib/ai/count_variance.py), on the planted world of tests/ai/world.py with
the real loader, dbt and PostgreSQL. The steps build on each other, so they are one test."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg

from orchestration.lib.ai.count_variance import refresh_day_figures
from orchestration.lib.ai.schema import ensure_ai_schema
from tests.ai.world import AS_OF, LAST_DAY, world
from tests.support.dbt import Dbt, deliver, query

DAYS = 5
FIGURES = (
    "select day, location_id, skus, skus_with_variance, skus_book_above, variance_value"
    " from ai.count_variance_locations order by 1, 2"
)


def refresh(url: str, as_of=AS_OF) -> list:
    with psycopg.connect(url) as conn:
        ensure_ai_schema(conn)
        return refresh_day_figures(conn, as_of, DAYS)


def test_day_figures_are_recomputed_exactly_when_their_snapshots_change(
    module_db: str, module_landing: Path, make_dbt: Callable[[str], Dbt]
) -> None:
    deliver(module_db, module_landing, world())
    make_dbt(module_db)("run", "--select", "stg_erp__items")
    last_day = LAST_DAY.date()
    window = [last_day - timedelta(days=n) for n in reversed(range(DAYS))]

    assert refresh(module_db) == window
    first = query(module_db, FIGURES)
    s1 = [(row[0], row[3], row[4]) for row in first if row[1] == "S1"]
    # S1's book is 3 units above its count for 3 skus on every day but the third last
    assert s1 == [
        (
            day,
            0 if day == last_day - timedelta(days=2) else 3,
            0 if day == last_day - timedelta(days=2) else 3,
        )
        for day in window
    ]
    assert all(row[3] == 0 for row in first if row[1] != "S1")

    # the same files, and a later as_of with no snapshot in between: nothing is recomputed
    assert refresh(module_db) == []
    assert refresh(module_db, AS_OF + timedelta(hours=1)) == []
    assert query(module_db, FIGURES) == first

    # a recount at S2 an hour after the day's count, one unit short on sku A: only that day
    recount = LAST_DAY + timedelta(hours=19)
    deliver(module_db, module_landing, {
        "pos/inventory/S2_recount.csv": "location_id,sku,on_hand,damaged,snapshot_ts\n"
        + "\n".join(f"S2,{sku},{20 + i - (sku == 'A')},0,{recount:%Y-%m-%dT%H:%M:%SZ}" for i, sku in enumerate("ABCD")),
    })  # fmt: skip
    assert refresh(module_db) == [last_day]
    s2 = query(
        module_db,
        "select skus_with_variance, skus_book_above, variance_value from ai.count_variance_locations"
        " where location_id = 'S2' and day = %s",
        (last_day,),
    )
    assert s2 == [(1, 1, 10.0)]  # sku A costs 10.00

    # as_of back before the recount: the day is read up to as_of again, without the recount
    assert refresh(module_db, LAST_DAY + timedelta(hours=18, minutes=30)) == [last_day]
    assert query(module_db, FIGURES) == first

    # a new item master (unit costs) recomputes every day of the window
    deliver(module_db, module_landing, {
        "erp/items/items_2.csv": "sku,description,category,unit_cost,currency,status,snapshot_ts\n"
        + "\n".join(f"{s},item {s},cat,{20 + i}.00,EUR,active,{LAST_DAY:%Y-%m-%dT%H:%M:%SZ}" for i, s in enumerate("ABCDEF")),
    })  # fmt: skip
    make_dbt(module_db)("run", "--select", "stg_erp__items")
    assert refresh(module_db) == window
    # S1: 3 units each of A, B and C, now at 20, 21 and 22: 189 a day
    assert {row[5] for row in query(module_db, FIGURES) if row[1] == "S1" and row[3]} == {189.0}
