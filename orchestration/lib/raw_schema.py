"""DDL of the raw layer and the load ledger, generated from the feed registry."""

from __future__ import annotations

import psycopg
from psycopg import sql

from orchestration.lib.feeds import FEEDS, Feed

RAW_SCHEMA = "raw"
META_SCHEMA = "meta"
LEDGER_TABLE = "file_ledger"

# Load metadata every raw row carries, after the feed's own columns. The defaults let a COPY
# stream straight into the raw table: for each file the loader sets omni.load_id, omni.file_hash
# and omni.row_base (the table's row sequence value before the file) for its transaction, and
# holds the feed's load lock, so the file's rows draw consecutive sequence values 1..n above it.
LOAD_METADATA_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_extra", "jsonb"),  # columns the registry does not list, kept as delivered
    ("_load_id", "bigint not null default current_setting('omni.load_id')::bigint"),  # meta.file_ledger
    ("_file_hash", "text not null default current_setting('omni.file_hash')"),  # sha256 of the bytes
    (
        "_row_number",
        "integer not null default nextval({row_sequence}) - current_setting('omni.row_base')::bigint",
    ),
    ("_loaded_at", "timestamptz not null default now()"),  # the loading transaction's start
)


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
    unique (file_path, file_hash)
);
-- Exactly once: the same bytes load once per feed, whatever the file is called.
create unique index if not exists file_ledger_loaded_hash
    on {META_SCHEMA}.{LEDGER_TABLE} (file_hash, feed) where status = 'loaded';
create index if not exists file_ledger_seen on {META_SCHEMA}.{LEDGER_TABLE} (file_path, size_bytes, mtime_ns);
"""


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
        # cache 1: under the feed's load lock a file's rows get consecutive values (its row numbers)
        sql.SQL("create sequence if not exists {} cache 1").format(
            sql.Identifier(*row_sequence(feed).split("."))
        ),
        sql.SQL("create table if not exists {} ({})").format(table, sql.SQL(", ").join(column_ddl(feed))),
        # BRIN: load ids grow with time, so incremental models find new rows for almost no upkeep.
        sql.SQL("create index if not exists {} on {} using brin (_load_id)").format(
            sql.Identifier(f"{feed.raw_table}__load_id"), table
        ),
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
