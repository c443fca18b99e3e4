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

# Entries of the landing zone that are not regular files (symlinks, FIFOs, sockets, devices):
# never opened, listed here for UNSUPPORTED_FILE while they are there (landing.scan_landing).
UNSUPPORTED_FILES_TABLE = "unsupported_files"
UNSUPPORTED_FILES_DDL = f"""
create table if not exists {META_SCHEMA}.{UNSUPPORTED_FILES_TABLE} (
    file_path      text primary key,
    file_kind      text not null,
    source         text,
    feed           text,
    first_seen_at  timestamptz not null default now(),
    last_seen_at   timestamptz not null default now()
);
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


# The wall clock at load plus OMNI_MAX_CLOCK_SKEW, set by the loader for each file it loads
# (raw_copy.start_load_sql). Declared IMMUTABLE although it reads a setting, on purpose: a
# CHECK constraint's expression is prepared once per statement, and PostgreSQL then folds an
# immutable call without arguments into a constant, so the future-timestamp check costs a
# comparison per row (reading the setting per row cost a COPY a third of its time). Unset (any
# writer but the loader, a restore): null, and the check passes.
CLOCK_LIMIT_FUNCTION = f"{META_SCHEMA}.omni_clock_limit"
CLOCK_LIMIT_SETTING = "omni.clock_limit"
CLOCK_LIMIT_DDL = f"""
create or replace function {CLOCK_LIMIT_FUNCTION}() returns timestamptz
language sql immutable parallel safe
as $$ select nullif(current_setting('{CLOCK_LIMIT_SETTING}', true), '')::timestamptz $$
"""
FUTURE_TIMESTAMP_RULE = "future timestamp (over OMNI_MAX_CLOCK_SKEW)"


def value_checks(feed: Feed) -> dict[str, sql.Composable]:
    """CHECK constraints of a raw table, by name (`<column>: <rule>`, what a refusal reports).

    Every path into the table (direct COPY, JSON lines, the checked path) meets them, in the
    database and per row: a required value that is empty, a numeric value beyond its column's
    range (NaN and Infinity too: NaN sorts above every number), a clock beyond the wall clock
    plus OMNI_MAX_CLOCK_SKEW. Added NOT VALID to tables that exist: rows loaded before are not
    re-checked (the staging models skip them, docs/quality.md).
    """
    checks: dict[str, sql.Composable] = {}
    not_null = set(feed.not_null_columns)
    for name in feed.required_value_columns:
        if name not in not_null:  # those are NOT NULL columns already
            checks[f"{name}: missing value"] = sql.SQL("{} is not null").format(sql.Identifier(name))
    for col in feed.columns:
        limit = col.value_limit
        if limit is not None:
            checks[f"{col.name}: NaN, infinite or beyond {limit:,}"] = sql.SQL("{} between {} and {}").format(
                sql.Identifier(col.name), sql.Literal(-limit), sql.Literal(limit)
            )
    checks[f"{feed.time_column}: {FUTURE_TIMESTAMP_RULE}"] = sql.SQL("{} <= {}()").format(
        sql.Identifier(feed.time_column), sql.SQL(CLOCK_LIMIT_FUNCTION)
    )
    too_long = [name for name in checks if len(name.encode()) > 63]
    assert not too_long, f"constraint names beyond PostgreSQL's 63 bytes: {too_long}"
    return checks


def _sync_value_checks(conn: psycopg.Connection) -> None:
    """Add the missing value_checks (NOT VALID) and drop those the registry no longer makes.

    Only what differs is altered: ALTER TABLE locks the table exclusively.
    """
    present: dict[str, set[str]] = {}
    for table, name in conn.execute(
        "select c.relname, k.conname from pg_constraint k join pg_class c on c.oid = k.conrelid"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = %s and k.contype = 'c' and k.conname like '%%: %%'",
        (RAW_SCHEMA,),
    ).fetchall():
        present.setdefault(table, set()).add(name)
    for feed in FEEDS:
        table = sql.Identifier(RAW_SCHEMA, feed.raw_table)
        wanted = value_checks(feed)
        have = present.get(feed.raw_table, set())
        for name in sorted(have - set(wanted)):
            conn.execute(sql.SQL("alter table {} drop constraint {}").format(table, sql.Identifier(name)))
        for name, condition in wanted.items():
            if name not in have:
                conn.execute(
                    sql.SQL("alter table {} add constraint {} check ({}) not valid").format(
                        table, sql.Identifier(name), condition
                    )
                )


def column_ddl(feed: Feed) -> list[sql.Composed]:
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
        conn.execute(UNSUPPORTED_FILES_DDL)
        conn.execute(CLOCK_LIMIT_DDL)
        for feed in FEEDS:
            conn.execute(raw_table_ddl(feed))
        _sync_value_checks(conn)
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
