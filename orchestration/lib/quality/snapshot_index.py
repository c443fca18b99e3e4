"""Which load holds which snapshot of which scope, kept incrementally in quality.snapshot_index.

Raw snapshot tables keep every delivered snapshot; "the newest snapshot of each scope" would
otherwise need a scan and a sort of the whole table each time. The index is one row per
(load, scope, snapshot_ts), added for new loads only (the pages the ledger records for them find
their rows), so the current batch of a suite and OUT_OF_ORDER_SNAPSHOT are small queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from orchestration.lib.feeds import Feed
from orchestration.lib.quality.schema import QUALITY_SCHEMA
from orchestration.lib.raw_schema import LEDGER_TABLE, META_SCHEMA, RAW_SCHEMA, pages_of_loads

LEDGER = sql.Identifier(META_SCHEMA, LEDGER_TABLE)
INDEX = sql.Identifier(QUALITY_SCHEMA, "snapshot_index")


def scope_expression(feed: Feed, alias: str | None = None) -> sql.Composable:
    """The scope value of a raw row: its scope columns joined by '|', or '' for unscoped feeds."""
    if not feed.scope:
        return sql.Literal("")
    columns = [sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in feed.scope]
    if len(columns) == 1:
        return columns[0]
    return sql.SQL("concat_ws('|', {})").format(sql.SQL(", ").join(columns))


def literal_ids(ids: list[int]) -> sql.Composable:
    """A literal bigint array: PostgreSQL hashes `= any(<constant array>)`, not a bound parameter."""
    return sql.SQL("array[{}]::bigint[]").format(sql.SQL(", ").join(sql.Literal(int(i)) for i in ids))


def unindexed_loads(conn: psycopg.Connection, feed: Feed) -> list[int]:
    rows = conn.execute(
        sql.SQL(
            "select l.load_id from {ledger} l where l.feed = %s and l.status = 'loaded' and l.rows_loaded > 0"
            " and not exists (select 1 from {index} i where i.feed = l.feed and i.load_id = l.load_id)"
            " order by l.load_id"
        ).format(ledger=LEDGER, index=INDEX),
        (feed.feed_id,),
    ).fetchall()
    return [r[0] for r in rows]


def refresh_snapshot_index(conn: psycopg.Connection, feed: Feed) -> int:
    """Index the loads of a snapshot feed not indexed yet; returns how many loads were added."""
    loads = unindexed_loads(conn, feed)
    if not loads:
        return 0
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "insert into {index} (feed, scope_value, snapshot_ts, load_id, row_count)"
                " select %s, {scope}, snapshot_ts, _load_id, count(*) from {raw}"
                # the pages skip the old rows; the array picks the loads
                " where {pages} and _load_id = any({loads})"
                " group by 2, 3, 4 on conflict do nothing"
            ).format(
                index=INDEX,
                scope=scope_expression(feed),
                raw=sql.Identifier(RAW_SCHEMA, feed.raw_table),
                pages=pages_of_loads(conn, loads),
                loads=literal_ids(loads),
            ),
            (feed.feed_id,),
        )
    return len(loads)


@dataclass(frozen=True)
class CurrentSnapshot:
    """Where the newest snapshot of every scope of a feed is."""

    # Loads whose every row belongs to a newest snapshot.
    whole_loads: list[int]
    # Loads that also hold older snapshots: only their rows of the newest (scope, snapshot_ts).
    partial_loads: list[int]
    newest: list[tuple[str, datetime]]
    # Every load of the feed is a whole load: the batch is the raw table itself.
    is_whole_table: bool
    rows: int


def current_snapshot(conn: psycopg.Connection, feed: Feed) -> CurrentSnapshot:
    rows = conn.execute(
        sql.SQL(
            "with newest as ("
            "  select scope_value, max(snapshot_ts) as snapshot_ts from {index} where feed = %s group by 1"
            "), per_load as ("
            "  select i.load_id, bool_and(i.snapshot_ts = n.snapshot_ts) as all_newest,"
            "         bool_or(i.snapshot_ts = n.snapshot_ts) as any_newest,"
            "         sum(i.row_count) filter (where i.snapshot_ts = n.snapshot_ts) as newest_rows"
            "  from {index} i join newest n using (scope_value) where i.feed = %s group by i.load_id"
            ") select load_id, all_newest, any_newest, coalesce(newest_rows, 0) from per_load order by load_id"
        ).format(index=INDEX),
        (feed.feed_id, feed.feed_id),
    ).fetchall()
    newest = conn.execute(
        sql.SQL(
            "select scope_value, max(snapshot_ts) from {index} where feed = %s group by 1 order by 1"
        ).format(index=INDEX),
        (feed.feed_id,),
    ).fetchall()
    whole = [r[0] for r in rows if r[1]]
    partial = [r[0] for r in rows if r[2] and not r[1]]
    return CurrentSnapshot(
        whole_loads=whole,
        partial_loads=partial,
        newest=[(r[0], r[1]) for r in newest],
        is_whole_table=bool(rows) and len(whole) == len(rows),
        rows=int(sum(r[3] for r in rows)),
    )


def data_as_of(conn: psycopg.Connection) -> datetime | None:
    """as_of of the contract: the newest snapshot_ts / event_ts loaded (never the wall clock)."""
    row = conn.execute(
        sql.SQL("select max(max_data_ts) from {} where status = 'loaded'").format(LEDGER)
    ).fetchone()
    return row[0] if row else None
