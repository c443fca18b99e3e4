"""Incremental builds: a micro-batch rewrites only the keys it affects, an older snapshot or a
build without new files changes nothing, and a full refresh after a sequence of micro-batches
gives exactly the incremental result.

One scenario: the rules scenario's first delivery, then five micro-batches
(tests/dbt/landing_files.py, MICRO_BATCHES), one `dbt run` each, then a run with no new file,
then `dbt run --full-refresh`. Row versions (xmin) tell which rows each build rewrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.dbt.landing_files import MICRO_BATCHES, RULES_BATCH_1
from tests.support.dbt import OWN_MODELS, deliver, query

# The physical tables behind the marts, with their keys.
MART_TABLES = {
    "intermediate.int_inventory__positions": ("location_id", "sku"),
    "intermediate.int_availability__timephased": ("location_id", "sku"),
    "intermediate.int_availability__channel_ats": ("channel_id", "sku"),
    "intermediate.int_availability__network_atp": ("sku",),
}
MARTS = ("inventory_position", "atp_by_location", "atp_by_channel", "atp_network", "atp_timephased")

Rows = dict[str, set[tuple]]  # table -> {(key..., xmin, row text)}


# Which build wrote a row, and what it replaced: differs between incremental and full builds.
BOOKKEEPING = frozenset({"_run_seq", "previous_atp", "previous_run_seq"})


def data_tables(conn: psycopg.Connection) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema in ('staging', 'intermediate') and table_type = 'BASE TABLE' order by 1"
        ).fetchall()
    ]


def capture(url: str) -> Rows:
    """Every row of every staging/intermediate table with its row version, and every mart row."""
    rows: Rows = {}
    with psycopg.connect(url) as conn:
        for table in data_tables(conn):
            rows[table] = {
                (r[0], r[1]) for r in conn.execute(f"select xmin::text, t::text from {table} as t")
            }
        for mart in MARTS:
            rows[f"marts.{mart}"] = {(r[0],) for r in conn.execute(f"select t::text from marts.{mart} as t")}
    return rows


def rewritten_keys(url: str, table: str, before: set[tuple], key: tuple[str, ...]) -> set[tuple]:
    """Keys of `table` rows that are not, unchanged and in place, what `before` held (new or rewritten)."""
    old_versions = {xmin for xmin, _ in before}
    columns = ", ".join(key)
    rows = query(url, f"select {columns}, xmin::text, t::text from {table} as t")
    return {tuple(r[: len(key)]) for r in rows if r[-2] not in old_versions or (r[-2], r[-1]) not in before}


@dataclass
class Sequence:
    url: str
    rewritten: list[dict[str, set[tuple]]] = field(default_factory=list)  # per micro-batch, per table
    before_batches: list[Rows] = field(default_factory=list)
    after_batches: list[Rows] = field(default_factory=list)
    before_idle_run: Rows | None = None
    after_idle_run: Rows | None = None
    incremental_marts: dict[str, list[tuple]] = field(default_factory=dict)
    full_refresh_marts: dict[str, list[tuple]] = field(default_factory=dict)
    view_ids: list[dict[str, int]] = field(default_factory=list)  # after each build: view -> oid


def view_ids(url: str) -> dict[str, int]:
    """The identity (oid) of every mart view: a view dbt recreates gets a new one."""
    rows = query(
        url,
        "select c.relname, c.oid::bigint from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = 'marts' and c.relkind = 'v'",
    )
    return dict(rows)


def mart_contents(url: str) -> dict[str, list[tuple]]:
    """Business columns (not the BOOKKEEPING) of every mart and of the tables behind them."""
    contents = {}
    with psycopg.connect(url) as conn:
        for table in [
            *(f"marts.{m}" for m in MARTS),
            *MART_TABLES,
            "intermediate.int_inventory__position_keys",
        ]:
            schema, name = table.split(".")
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s"
                    " and table_name = %s and column_name <> all(%s) order by ordinal_position",
                    (schema, name, list(BOOKKEEPING)),
                )
            ]
            contents[table] = [tuple(r) for r in conn.execute(f"select {', '.join(columns)} from {table}")]
    return contents


def except_both_ways(url: str, incremental: dict[str, list[tuple]]) -> dict[str, tuple[int, int]]:
    """For each table: (incremental rows missing after the full refresh, extra rows), via EXCEPT ALL."""
    differences = {}
    with psycopg.connect(url) as conn:
        for table, rows in incremental.items():
            name = "incremental_" + table.replace(".", "__")
            conn.execute(f"create temporary table {name} as select * from {table} limit 0")
            columns = [c.name for c in conn.execute(f"select * from {name} limit 0").description]
            kept = [c for c in columns if c not in BOOKKEEPING]
            if rows:
                with conn.cursor().copy(f"copy {name} ({', '.join(kept)}) from stdin") as copy:
                    for row in rows:
                        copy.write_row(row)
            cols = ", ".join(kept)
            missing = conn.execute(
                f"select count(*) from (select {cols} from {name} except all select {cols} from {table}) d"
            ).fetchone()[0]
            extra = conn.execute(
                f"select count(*) from (select {cols} from {table} except all select {cols} from {name}) d"
            ).fetchone()[0]
            differences[table] = (missing, extra)
    return differences


@pytest.fixture(scope="module")
def sequence(module_db: str, module_landing: Path, make_dbt) -> Sequence:
    dbt = make_dbt(module_db)
    result = Sequence(module_db)
    deliver(module_db, module_landing, RULES_BATCH_1)
    dbt("run", *OWN_MODELS)
    result.view_ids.append(view_ids(module_db))
    for number, batch in enumerate(MICRO_BATCHES, start=1):
        before = capture(module_db)
        deliver(module_db, module_landing, batch)
        if number == 2:
            # The positions built alone first (a partial run): the sums catch up by difference
            # from rows they have not seen, which replaced rows they have.
            dbt("run", "--select", "+int_inventory__positions")
        dbt("run", *OWN_MODELS)
        result.view_ids.append(view_ids(module_db))
        result.before_batches.append(before)
        result.after_batches.append(capture(module_db))
        result.rewritten.append(
            {
                table: rewritten_keys(module_db, table, before[table], key)
                for table, key in MART_TABLES.items()
            }
        )
    # Every position rewritten by a build the network sums missed (the views on the positions go
    # with the table): they must re-sum, not add each row's atp again, so the idle run changes nothing.
    dbt(
        "run",
        "--full-refresh",
        "--select",
        "int_inventory__positions",
        "inventory_position",
        "atp_by_location",
    )
    result.before_idle_run = capture(module_db)
    dbt("run", *OWN_MODELS)  # nothing new in the landing zone
    result.after_idle_run = capture(module_db)
    result.incremental_marts = mart_contents(module_db)
    dbt("run", "--full-refresh", *OWN_MODELS)
    result.view_ids.append(view_ids(module_db))
    result.full_refresh_marts = mart_contents(module_db)
    return result


def test_unchanged_views_are_left_alone_and_full_refresh_recreates_them(sequence: Sequence) -> None:
    first, *micro_batches, full_refresh = sequence.view_ids
    assert set(first) >= set(MARTS)
    assert all(ids == first for ids in micro_batches)  # same definition: never recreated
    assert not set(full_refresh.items()) & set(first.items())


def keys(*names: str) -> set[tuple]:
    return {tuple(n.split("/")) for n in names}


# Which keys each micro-batch must rewrite, and why (landing_files.MICRO_BATCHES).
EXPECTED_REWRITES = [
    {  # 1: a sale at S1/A; a marketplace order for A
        "intermediate.int_inventory__positions": keys("S1/A"),
        "intermediate.int_availability__timephased": keys("S1/A"),
        # WEB's pool has no S1 (it does not ship to customers): WEB/A is recomputed, not rewritten
        "intermediate.int_availability__channel_ats": keys("PICK/A", "MKT/A"),
        "intermediate.int_availability__network_atp": keys("A"),
    },
    {  # 2: S2 recounted (drops C); order line O1 shipped; reservation V6 at S1/B
        "intermediate.int_inventory__positions": keys("S1/A", "S1/B", "S2/A", "S2/C"),
        # S2/C only changed its source snapshot: its projection is the same
        "intermediate.int_availability__timephased": keys("S1/A", "S1/B", "S2/A"),
        "intermediate.int_availability__channel_ats": keys("WEB/A", "PICK/A", "PICK/B"),
        # S1/A +2 and S2/A -2: A's network ATP is unchanged
        "intermediate.int_availability__network_atp": keys("B"),
    },
    {  # 3: movement at D1/A (as_of 10:30 expires V6 at S1/B); T1 received; WEB share 40; S2 pick-up
        "intermediate.int_inventory__positions": keys("D1/A", "S1/A", "S1/B"),
        "intermediate.int_availability__timephased": keys("D1/A", "S1/A", "S1/B"),
        "intermediate.int_availability__channel_ats": keys(
            "WEB/A", "WEB/B", "WEB/C", "PICK/A", "PICK/B", "MKT/A"
        ),
        "intermediate.int_availability__network_atp": keys("A", "B"),
    },
    {  # 4: an older S2 count delivered late
        "intermediate.int_inventory__positions": set(),
        "intermediate.int_availability__timephased": set(),
        "intermediate.int_availability__channel_ats": set(),
        "intermediate.int_availability__network_atp": set(),
    },
    {  # 5: a sale at S2/A after midnight: V1 (S1/A) expires; the time-phased days move by one
        "intermediate.int_inventory__positions": keys("S1/A", "S2/A"),
        # positions with inbound are re-projected on the new date; D1/B's overdue PO stays flat
        "intermediate.int_availability__timephased": keys("S1/A", "S2/A", "D1/A", "S2/C"),
        "intermediate.int_availability__channel_ats": keys("WEB/A", "PICK/A"),
        "intermediate.int_availability__network_atp": keys("A"),
    },
]


@pytest.mark.parametrize("batch", range(len(EXPECTED_REWRITES)), ids=lambda i: f"batch{i + 1}")
def test_micro_batch_rewrites_only_the_affected_keys(sequence: Sequence, batch: int) -> None:
    assert sequence.rewritten[batch] == EXPECTED_REWRITES[batch]


def test_run_without_new_files_changes_no_row(sequence: Sequence) -> None:
    assert sequence.before_idle_run is not None and sequence.after_idle_run is not None
    for table, rows in sequence.before_idle_run.items():
        assert sequence.after_idle_run[table] == rows, table  # same rows, same row versions


def test_older_snapshot_delivered_after_a_newer_one_changes_nothing(sequence: Sequence) -> None:
    before, after = sequence.before_batches[3], sequence.after_batches[3]
    recorded = after["staging.stg_raw__snapshot_deliveries"] - before["staging.stg_raw__snapshot_deliveries"]
    assert len(recorded) == 1 and "out_of_order" in next(iter(recorded))[1]
    for table, rows in before.items():
        if table != "staging.stg_raw__snapshot_deliveries":
            assert after[table] == rows, table


def test_reservation_expiry_follows_as_of_without_new_events_for_the_key(sequence: Sequence) -> None:
    # batch 3 brings nothing for S1/B; its reservation V6 lapses because as_of passes 10:20
    def reserved(rows: Rows) -> int:
        line = next(r[0] for r in rows["marts.inventory_position"] if r[0].startswith("(S1,B,"))
        return int(line.strip("()").split(",")[7])

    assert reserved(sequence.before_batches[2]) == 2
    assert reserved(sequence.after_batches[2]) == 0


def test_full_refresh_equals_the_incremental_result(sequence: Sequence) -> None:
    assert except_both_ways(sequence.url, sequence.incremental_marts) == {
        table: (0, 0) for table in sequence.incremental_marts
    }
    # the comparison is not vacuous
    assert len(sequence.full_refresh_marts["marts.atp_timephased"]) == 7 * 14
    assert sequence.incremental_marts.keys() == sequence.full_refresh_marts.keys()


def test_timephased_days_start_at_as_of_date(sequence: Sequence) -> None:
    assert query(
        sequence.url, "select min(bucket_date)::text, max(bucket_date)::text from marts.atp_timephased"
    ) == [("2024-05-02", "2024-05-15")]
    assert query(sequence.url, "select distinct as_of::text from marts.inventory_position") == [
        ("2024-05-02 01:00:00+00",)
    ]
