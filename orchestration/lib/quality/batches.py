"""The rows a suite validates: a view `quality.gx_batch__<source>__<feed>` over the raw table.

GX validates the view as a table asset. A view rather than a GX query asset because GX runs a
query asset's SQL once on its own to learn its columns (fetching every row), and rather than a
copy because the batch is read a handful of times only. The batch is what is *current*:

- snapshot feeds: the newest snapshot of each scope (an older snapshot delivered late is not
  current state; OUT_OF_ORDER_SNAPSHOT reports it);
- event feeds: the rows of loads the suite has not validated yet, plus the rows of the suite's
  open findings, re-checked so that a finding resolves once it is no longer true (a sku added to
  the item master later). Events are immutable, so old rows that passed are not validated again;
- snapshot feeds when only as_of moved, for expectations that read nothing but each scope's
  newest snapshot_ts (snapshot_within_sla): one row per scope, `..._newest`, from the snapshot index;
- mart suites with `changed_rows_from`: the rows a dbt build rewrote since the last validation,
  plus the rows of open findings, `quality.gx_batch__<schema>__<relation>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from orchestration.lib.feeds import Feed
from orchestration.lib.quality.schema import QUALITY_SCHEMA
from orchestration.lib.quality.snapshot_index import current_snapshot, literal_ids, scope_expression
from orchestration.lib.raw_schema import LEDGER_TABLE, META_SCHEMA, RAW_SCHEMA, pages_of_loads

BATCH_PREFIX = "gx_batch__"


def batch_view(feed: Feed) -> tuple[str, str]:
    return QUALITY_SCHEMA, f"{BATCH_PREFIX}{feed.raw_table}"


@dataclass(frozen=True)
class Batch:
    schema: str
    view: str
    description: str
    # Rows of the current snapshots, or of the new event loads (re-checked rows not counted).
    rows: int
    # Event feeds: the loads this batch validates for the first time (recorded once it passes GX).
    new_loads: list[int] = field(default_factory=list)
    rechecked_findings: int = 0

    @property
    def is_empty(self) -> bool:
        return self.rows == 0 and self.rechecked_findings == 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.view}"


def _replace_view(conn: psycopg.Connection, feed: Feed, where: sql.Composable | None) -> None:
    schema, view = batch_view(feed)
    select = sql.SQL("select * from {}").format(sql.Identifier(RAW_SCHEMA, feed.raw_table))
    if where is not None:
        select = sql.SQL("{} where {}").format(select, where)
    _create_view(conn, schema, view, select)


def _create_view(conn: psycopg.Connection, schema: str, view: str, select: sql.Composable) -> None:
    with conn.transaction():
        # drop + create: `create or replace` refuses a view whose raw table gained columns in between
        conn.execute(sql.SQL("drop view if exists {}").format(sql.Identifier(schema, view)))
        conn.execute(sql.SQL("create view {} as {}").format(sql.Identifier(schema, view), select))


def snapshot_batch(conn: psycopg.Connection, feed: Feed) -> Batch:
    current = current_snapshot(conn, feed)
    schema, view = batch_view(feed)
    description = f"newest snapshot of {len(current.newest)} scope(s)" if feed.scope else "newest snapshot"
    if current.is_whole_table:
        _replace_view(conn, feed, None)
        return Batch(schema, view, f"{description} (every load)", current.rows)
    parts: list[sql.Composable] = []
    loads = [*current.whole_loads, *current.partial_loads]
    if current.whole_loads:
        parts.append(sql.SQL("_load_id = any({})").format(literal_ids(current.whole_loads)))
    if current.partial_loads:
        pairs = sql.SQL(", ").join(
            sql.SQL("({}, {}::timestamptz)").format(sql.Literal(scope), sql.Literal(ts.isoformat()))
            for scope, ts in current.newest
        )
        parts.append(
            sql.SQL("(_load_id = any({}) and ({}, snapshot_ts) in ({}))").format(
                literal_ids(current.partial_loads), scope_expression(feed), pairs
            )
        )
    where = (
        sql.SQL("{} and ({})").format(pages_of_loads(conn, loads), sql.SQL(" or ").join(parts))
        if parts
        else sql.SQL("false")
    )
    _replace_view(conn, feed, where)
    return Batch(schema, view, description, current.rows)


def newest_snapshot_times_batch(conn: psycopg.Connection, feed: Feed) -> Batch:
    """One row per scope of a snapshot feed: its scope columns and the snapshot_ts of its newest
    snapshot, from quality.snapshot_index. Enough for an expectation that reads nothing else of
    the batch (Rule.reads_batch_columns): re-running snapshot_within_sla when only as_of moved
    then reads a row per store instead of every row of every store's count."""
    schema, view = batch_view(feed)
    view = f"{view}__newest"
    if len(feed.scope) == 1:
        scope_columns = sql.SQL("scope_value as {}, ").format(sql.Identifier(feed.scope[0]))
    else:  # several columns joined by '|' (scope_expression), or none
        scope_columns = sql.SQL("").join(
            sql.SQL("split_part(scope_value, '|', {}) as {}, ").format(sql.Literal(n), sql.Identifier(c))
            for n, c in enumerate(feed.scope, start=1)
        )
    select = sql.SQL(
        "select {}max(snapshot_ts) as snapshot_ts from {} where feed = {} group by scope_value"
    ).format(scope_columns, sql.Identifier(QUALITY_SCHEMA, "snapshot_index"), sql.Literal(feed.feed_id))
    _create_view(conn, schema, view, select)
    counted = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(schema, view))).fetchone()
    scopes = int(counted[0]) if counted else 0
    return Batch(schema, view, f"newest snapshot_ts of {scopes} scope(s)", scopes)


def _new_event_loads(conn: psycopg.Connection, feed: Feed, suite: str) -> tuple[list[int], int, bool]:
    """Loads of the feed the suite has not validated, their rows, and whether none was validated yet."""
    rows = conn.execute(
        sql.SQL(
            "select l.load_id, l.rows_loaded, v.load_id is not null from {ledger} l"
            " left join {validated} v on v.suite = %s and v.load_id = l.load_id"
            " where l.feed = %s and l.status = 'loaded' and l.rows_loaded > 0 order by l.load_id"
        ).format(
            ledger=sql.Identifier(META_SCHEMA, LEDGER_TABLE),
            validated=sql.Identifier(QUALITY_SCHEMA, "gx_validated_loads"),
        ),
        (suite, feed.feed_id),
    ).fetchall()
    new = [r[0] for r in rows if not r[2]]
    return new, int(sum(r[1] for r in rows if not r[2])), len(new) == len(rows)


def _recheck_predicate(feed: Feed, open_keys: list[dict[str, Any]]) -> sql.Composable | None:
    """Rows matching any open finding's key: `(c1, c2) in ((v1, v2), ...)` per key shape."""
    columns = {col.name for col in feed.columns}
    shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for keys in open_keys:
        shape = tuple(sorted(keys))
        # A feed-level finding (no key) or one keyed on a computed column cannot pick rows.
        if shape and set(shape) <= columns:
            shapes.setdefault(shape, []).append(tuple(keys[k] for k in shape))
    parts = [
        sql.SQL("({}) in ({})").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in shape),
            sql.SQL(", ").join(
                sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in values))
                for values in sorted(set(rows), key=repr)
            ),
        )
        for shape, rows in sorted(shapes.items())
    ]
    return sql.SQL(" or ").join(parts) if parts else None


def event_batch(conn: psycopg.Connection, feed: Feed, suite: str, open_keys: list[dict[str, Any]]) -> Batch:
    new_loads, new_rows, first_time = _new_event_loads(conn, feed, suite)
    schema, view = batch_view(feed)
    if first_time and new_loads:
        _replace_view(conn, feed, None)
        return Batch(schema, view, f"every row ({len(new_loads)} loads)", new_rows, new_loads)
    parts: list[sql.Composable] = []
    if new_loads:
        parts.append(
            sql.SQL("({} and _load_id = any({}))").format(
                pages_of_loads(conn, new_loads), literal_ids(new_loads)
            )
        )
    recheck = _recheck_predicate(feed, open_keys)
    if recheck is not None:
        parts.append(recheck)
    where = sql.SQL(" or ").join(parts) if parts else sql.SQL("false")
    _replace_view(conn, feed, where)
    rechecked = len(open_keys) if recheck is not None else 0
    description = f"{len(new_loads)} new load(s), {rechecked} open finding(s) re-checked"
    return Batch(schema, view, description, new_rows, new_loads, rechecked)


def changed_rows_batch(
    conn: psycopg.Connection,
    relation: str,
    changed_rows_from: str,
    key_columns: tuple[str, ...],
    since: int,
    open_keys: list[dict[str, Any]],
) -> Batch:
    """The rows of a mart `relation` that a dbt build rewrote after build `since` (the
    `_run_seq` of `changed_rows_from`, the incremental table under it), plus the rows of its open
    findings, re-checked so that a finding resolves once it is no longer true.

    Found by key through the table's indexes (on `_run_seq` and its unique key): a micro-batch
    that rewrote a few hundred positions validates those, not the millions that did not change.
    """
    schema, name = relation.split(".", 1)
    view = f"{BATCH_PREFIX}{schema}__{name}"
    keys = sql.SQL(", ").join(sql.Identifier(c) for c in key_columns)
    changed = sql.SQL("select {keys} from {table} where _run_seq > {since}").format(
        keys=keys, table=sql.Identifier(*changed_rows_from.split(".", 1)), since=sql.Literal(since)
    )
    open_rows = sorted({tuple(k[c] for c in key_columns) for k in open_keys}, key=repr)
    batch_keys = changed
    if open_rows:
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(sql.Literal(v) for v in row)) for row in open_rows
        )
        batch_keys = sql.SQL("{} union select * from (values {}) as open_findings ({})").format(
            changed, values, keys
        )
    select = sql.SQL("select mart.* from {} as mart join ({}) as batch_keys using ({})").format(
        sql.Identifier(schema, name), batch_keys, keys
    )
    _create_view(conn, QUALITY_SCHEMA, view, select)
    counted = conn.execute(sql.SQL("select count(*) from ({}) as rewritten").format(changed)).fetchone()
    rows = int(counted[0]) if counted else 0
    description = f"{rows} row(s) rewritten since build {since}, {len(open_rows)} open finding(s) re-checked"
    return Batch(QUALITY_SCHEMA, view, description, rows, rechecked_findings=len(open_rows))
