"""Arrival order, redelivery, repeated events and schema drift do not change the marts.

A property test (hypothesis) over the rules scenario of tests/dbt: its files arrive in any order,
in batches with a dbt build after each, some delivered twice (same bytes under another name) and
some events sent again in a new file; the final marts equal those of one build over everything
delivered at once. Real loader, real incremental dbt builds, real PostgreSQL.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from orchestration.lib.raw_schema import ensure_warehouse
from tests.dbt.landing_files import RULES_BATCH_1, RULES_BATCH_2, Files
from tests.support.dbt import OWN_MODELS, SCENARIO_DATABASE, Dbt, deliver, query
from tests.support.reliability import assert_same_tables, relations, table_contents

FILES: Files = {**RULES_BATCH_1, **RULES_BATCH_2}
NAMES = sorted(FILES)
EVENT_FILES = [
    name
    for name in NAMES
    if name.split("/")[1] in ("sales", "movements", "reservations", "returns", "orders")
]


def _reset(url: str) -> None:
    server = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{SCENARIO_DATABASE}" with (force)')
        conn.execute(f'create database "{SCENARIO_DATABASE}"')
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)


def _marts(url: str) -> dict[str, list[tuple]]:
    return table_contents(url, relations(url, ("marts",)))


@pytest.fixture(scope="module")
def all_at_once(
    module_db: str, module_landing: Path, make_dbt: Callable[[str], Dbt]
) -> dict[str, list[tuple]]:
    deliver(module_db, module_landing, FILES)
    make_dbt(module_db)("run", *OWN_MODELS)
    return _marts(module_db)


def _resent_events(name: str) -> tuple[str, str]:
    """The same events again in a new file, reordered and the first one twice, as a source system's retry does."""
    header, *rows = FILES[name].strip().splitlines()
    folder, file = name.rsplit("/", 1)
    return f"{folder}/resent_{file}", "\n".join([header, *reversed(rows), rows[0]])


# Each example costs two incremental dbt builds: few examples, no shrinking (a failure prints its example).
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=(Phase.explicit, Phase.generate),
)
@given(
    order=st.permutations(NAMES),
    cut=st.floats(min_value=0.1, max_value=0.9),
    redelivered=st.sampled_from(NAMES),
    resent=st.sampled_from(EVENT_FILES),
)
def test_any_arrival_order_redelivery_and_repeated_events_give_the_same_marts(
    module_db: str,
    make_dbt: Callable[[str], Dbt],
    all_at_once: dict[str, list[tuple]],
    order: list[str],
    cut: float,
    redelivered: str,
    resent: str,
) -> None:
    _reset(module_db)
    dbt = make_dbt(module_db)
    landing = Path(tempfile.mkdtemp(prefix="omni-order-"))
    try:
        split = max(1, int(len(order) * cut))
        extra_name, extra_text = _resent_events(resent)
        batches: list[Files] = [
            {name: FILES[name] for name in order[:split]},
            # the rest, the same bytes again under a new name, and events already loaded sent again
            {
                **{name: FILES[name] for name in order[split:]},
                f"{redelivered}.again.csv": FILES[redelivered],
                extra_name: extra_text,
            },
        ]
        for batch in batches:
            deliver(module_db, landing, batch)
            dbt("run", *OWN_MODELS)
    finally:
        shutil.rmtree(landing, ignore_errors=True)
    assert_same_tables(_marts(module_db), all_at_once)
    assert query(module_db, "select count(*) from meta.file_ledger where status = 'duplicate'") == [(1,)]


def test_extra_column_is_kept_in_raw_and_ignored_renamed_required_column_quarantines(
    module_db: str, make_dbt: Callable[[str], Dbt], all_at_once: dict[str, list[tuple]]
) -> None:
    _reset(module_db)
    drifted = dict(FILES)
    header, *rows = FILES["pos/sales/sales_1.csv"].strip().splitlines()
    drifted["pos/sales/sales_1.csv"] = "\n".join(
        [header + ",till_note", *(row + ",night shift" for row in rows)]
    )
    landing = Path(tempfile.mkdtemp(prefix="omni-drift-"))
    try:
        deliver(module_db, landing, drifted)
        # a till system renames location_id: the whole file is refused, nothing of it loads
        renamed = landing / "pos/sales/sales_renamed.csv"
        renamed.write_text("event_id,store_id,sku,qty,event_ts\nz1,S1,A,50,2024-05-01T09:45:00\n")
        from orchestration.lib.loader import ingest

        report = ingest(module_db, landing)
        make_dbt(module_db)("run", *OWN_MODELS)
    finally:
        shutil.rmtree(landing, ignore_errors=True)
    assert [o.status for o in report.outcomes] == ["quarantined"]
    assert "missing required column(s) location_id" in (report.outcomes[0].reason or "")
    assert query(module_db, "select count(*) from raw.pos__sales where event_id = 'z1'") == [(0,)]
    # the extra column is in raw._extra, not in staging, and the marts are as without it
    assert query(
        module_db,
        "select distinct _extra ->> 'till_note' from raw.pos__sales where _load_id ="
        " (select load_id from meta.file_ledger where file_path = 'pos/sales/sales_1.csv')",
    ) == [("night shift",)]
    staging_columns = query(
        module_db, "select column_name from information_schema.columns where table_name = 'stg_pos__sales'"
    )
    assert ("till_note",) not in staging_columns
    assert_same_tables(_marts(module_db), all_at_once)
