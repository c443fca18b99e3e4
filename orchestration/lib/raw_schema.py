"""DDL of the raw layer and the load ledger, generated from the feed registry."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from orchestration.lib.feeds import FEEDS, Feed

RAW_SCHEMA = "raw"
META_SCHEMA = "meta"
LEDGER_TABLE = "file_ledger"

# Load metadata every raw row carries, after the feed's own columns. The defaults let a COPY
# stream straight into the raw table: for each file the loader sets omni.load_id for its
# transaction and, holding the feed's load lock, restarts the table's row sequence at 1, so the
# file's rows number 1..n. (A direct COPY gets _load_id appended to each record instead, which
# is cheaper than the setting read per row: raw_copy.with_load_columns.) The file's hash, path
# and times are the ledger's, one row per file (a column of 64 characters on every row cost a
# fifth of a big file's COPY).
LOAD_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_extra", "jsonb"),  # columns the registry does not list, kept as delivered
    ("_load_id", "bigint not null default current_setting('omni.load_id')::bigint"),  # meta.file_ledger
    ("_row_number", "integer not null default nextval({row_sequence})"),
    ("_loaded_at", "timestamptz not null default now()"),  # the loading transaction's start
)
# Row sequences hand each session this many values at a time. With CACHE 1 every row's nextval
# locked and rewrote the sequence page (a tenth or more of a COPY's time); a cached value is a
# counter in the session. Restarting the sequence (setval) also drops the session's cache, so
# under the feed lock a file's rows still get 1..n.
ROW_SEQUENCE_CACHE = 1000


def row_sequence(feed: Feed) -> str:
    """Qualified name of the raw table's row-number sequence (registry names are plain identifiers)."""
    return f"{RAW_SCHEMA}.{feed.raw_table}__row_seq"


LEDGER_DDL = f"""
create table if not exists {META_SCHEMA}.{LEDGER_TABLE} (
    load_id        bigint generated always as identity primary key,
    file_path      text not null,
    file_hash      text not null,
    size_bytes     bigint not null,
    mtime_ns       bigint not null,
    source         text,
    feed           text,
    channel_id     text,
    file_format    text,
    status         text not null check (status in ('loaded', 'duplicate', 'quarantined')),
    rows_loaded    bigint not null default 0,
    reason         text,
    duplicate_of   bigint,
    min_data_ts    timestamptz,
    max_data_ts    timestamptz,
    discovered_at  timestamptz not null,
    loaded_at      timestamptz not null default clock_timestamp(),
    load_seconds   double precision,
    first_page     bigint,
    end_page       bigint,
    unique (file_path, file_hash)
);
-- Where a load's rows are in its raw table (first_page <= page < end_page; null: anywhere).
alter table {META_SCHEMA}.{LEDGER_TABLE}
    add column if not exists first_page bigint, add column if not exists end_page bigint;
-- Exactly once: the same bytes load once per feed, whatever the file is called.
create unique index if not exists file_ledger_loaded_hash
    on {META_SCHEMA}.{LEDGER_TABLE} (file_hash, feed) where status = 'loaded';
create index if not exists file_ledger_seen on {META_SCHEMA}.{LEDGER_TABLE} (file_path, size_bytes, mtime_ns);
"""


def pages_of_loads(conn: psycopg.Connection, loads: Sequence[int]) -> sql.Composable:
    """`ctid >= '(p,0)'::tid`: a TID range of a raw table holding every row of `loads`.

    p is the lowest first page the ledger records for them; a load from before the ledger kept
    pages may be anywhere (p = 0). PostgreSQL scans the range instead of the whole table: new loads
    are at its end.
    """
    row = conn.execute(
        sql.SQL("select coalesce(min(coalesce(first_page, 0)), 0) from {} where load_id = any(%s)").format(
            sql.Identifier(META_SCHEMA, LEDGER_TABLE)
        ),
        (list(loads),),
    ).fetchone()
    first = row[0] if row else 0
    return sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({first},0)"))


def column_ddl(feed: Feed) -> list[sql.Composable]:
    not_null = set(feed.not_null_columns)
    parts = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(col.name), sql.SQL(col.type), sql.SQL(" not null" if col.name in not_null else "")
        )
        for col in feed.columns
    ]
    sequence = f"'{row_sequence(feed)}'::regclass"
    parts += [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(ddl.replace("{row_sequence}", sequence)))
        for name, ddl in LOAD_METADATA_COLUMNS
    ]
    return parts


def raw_table_ddl(feed: Feed) -> sql.Composed:
    table = sql.Identifier(RAW_SCHEMA, feed.raw_table)
    statements = [
        sql.SQL("create sequence if not exists {} cache {}").format(
            sql.Identifier(*row_sequence(feed).split(".")), sql.Literal(ROW_SEQUENCE_CACHE)
        ),
        sql.SQL("create table if not exists {} ({})").format(table, sql.SQL(", ").join(column_ddl(feed))),
        # No index: a load's rows are found by the pages the ledger records for it (first_page,
        # end_page). A BRIN index on _load_id did that for a third of the COPY's time.
    ]
    # A registry column added after the table was created arrives as a nullable column.
    for col in feed.columns:
        statements.append(
            sql.SQL("alter table {} add column if not exists {} {}").format(
                table, sql.Identifier(col.name), sql.SQL(col.type)
            )
        )
    return sql.SQL(";\n").join(statements)


def ensure_warehouse(conn: psycopg.Connection) -> None:
    """Create the raw and meta schemas, the ledger and every raw table (idempotent)."""
    with conn.transaction():
        # Serialise concurrent first runs: CREATE ... IF NOT EXISTS still races on the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ensure_warehouse'))")
        conn.execute(f"create schema if not exists {RAW_SCHEMA}")
        conn.execute(f"create schema if not exists {META_SCHEMA}")
        conn.execute(LEDGER_DDL)
        for feed in FEEDS:
            conn.execute(raw_table_ddl(feed))
        _upgrade_row_numbering(conn)
        _drop_per_row_file_hash(conn)
        _drop_load_id_indexes(conn)


def _drop_load_id_indexes(conn: psycopg.Connection) -> None:
    """Raw tables made when loads were found by a BRIN index on _load_id lose it (see raw_table_ddl).

    Their loads from before have no pages in the ledger, and readers look for them everywhere.
    """
    indexes = conn.execute(
        "select indexname from pg_indexes where schemaname = %s and indexname = any(%s)",
        (RAW_SCHEMA, [f"{feed.raw_table}__load_id" for feed in FEEDS]),
    ).fetchall()
    for (index,) in indexes:
        conn.execute(sql.SQL("drop index {}").format(sql.Identifier(RAW_SCHEMA, index)))


def _drop_per_row_file_hash(conn: psycopg.Connection) -> None:
    """Raw tables made when every row carried its file's hash lose that column (the ledger has it).

    Dropping a column only changes the catalog; it is done only where the column is, since
    ALTER TABLE locks the table exclusively.
    """
    tables = conn.execute(
        "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid and a.attname = '_file_hash' and not a.attisdropped"
        " where n.nspname = %s and c.relkind = 'r' and c.relname = any(%s)",
        (RAW_SCHEMA, [feed.raw_table for feed in FEEDS]),
    ).fetchall()
    for (table,) in tables:
        conn.execute(
            sql.SQL("alter table {} drop column _file_hash").format(sql.Identifier(RAW_SCHEMA, table))
        )


def _upgrade_row_numbering(conn: psycopg.Connection) -> None:
    """Raw tables made before row sequences were cached and restarted per file get today's setup.

    Their `_row_number` default subtracted a per-file base (omni.row_base) that the loader no
    longer sets. Only what differs is altered: ALTER TABLE locks the table exclusively.
    """
    stale = conn.execute(
        "select c.relname, coalesce(pg_get_expr(d.adbin, d.adrelid), ''), s.cache_size"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " join pg_attribute a on a.attrelid = c.oid and a.attname = '_row_number'"
        " left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum"
        " left join pg_sequences s on s.schemaname = n.nspname and s.sequencename = c.relname || '__row_seq'"
        " where n.nspname = %s and c.relkind = 'r' and c.relname = any(%s)"
        " and (pg_get_expr(d.adbin, d.adrelid) like '%%row_base%%' or s.cache_size <> %s)",
        (RAW_SCHEMA, [feed.raw_table for feed in FEEDS], ROW_SEQUENCE_CACHE),
    ).fetchall()
    by_table = {feed.raw_table: feed for feed in FEEDS}
    for table, default, cache in stale:
        feed = by_table[table]
        if "row_base" in default:
            conn.execute(
                sql.SQL("alter table {} alter column _row_number set default nextval({}::regclass)").format(
                    sql.Identifier(RAW_SCHEMA, table), sql.Literal(row_sequence(feed))
                )
            )
        if cache != ROW_SEQUENCE_CACHE:
            conn.execute(
                sql.SQL("alter sequence {} cache {}").format(
                    sql.Identifier(*row_sequence(feed).split(".")), sql.Literal(ROW_SEQUENCE_CACHE)
                )
            )
