"""COPY of one landing file into its raw table, inside the caller's transaction.

The caller (the loader) has drawn the file's load id, evaluated `start_load_sql` for it, and
opened the savepoint FILE_SAVEPOINT; a file found bad is rolled back to that savepoint, so the
caller's transaction, which may hold other files, stays usable.

Three paths, same result:
- direct: CSV and Parquet files whose columns are all known to the registry stream straight
  into `raw.<table>`, each record with its load id appended (with_load_columns); the other load
  metadata comes from column defaults (the table's row sequence, now()), so the bytes cross into
  PostgreSQL once (close to a bare COPY). The
  file's row count and time range, and the channel check, then read the table only from the pages
  at its end where the load started (a TID range scan), not every row the table already holds;
- JSON lines: the lines go into the session's lines table, then one prepared statement parses
  each once, checks what a cast would let through (ISO 8601 dates and times, required values,
  the channel) and writes the raw rows; a file it refuses is re-examined value by value;
- checked: CSV or Parquet files with extra columns or words PostgreSQL would read as dates
  ('now', 'epoch', ...) go through a typed temporary table, which checks ISO 8601 dates and
  times and keeps extra columns, then move to the raw table in one INSERT ... SELECT.
Either way every value is checked by PostgreSQL, and the first bad one is reported with its line
and column, which quarantines the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TypedDict

import psycopg
from psycopg import sql

from orchestration.lib.feeds import Column, Feed
from orchestration.lib.file_formats import (
    Quarantine,
    SpecialWordFound,
    check_header,
    csv_file,
    jsonl_bytes,
    parquet_as_csv,
    parquet_columns,
    with_load_columns,
    without_end_of_data_marker,
    without_special_time_words,
)
from orchestration.lib.landing import LandingFile
from orchestration.lib.plain_values import NotPlainValue, PlainValueCheck, check_plain_batch
from orchestration.lib.raw_schema import (
    CLOCK_LIMIT_SETTING,
    FUTURE_TIMESTAMP_RULE,
    RAW_SCHEMA,
    row_sequence,
)
from orchestration.lib.sql_text import SESSION_SETTINGS, Prepared, Template
from orchestration.lib.value_forms import VALUE_PATTERNS, VALUE_RULES

FILE_SAVEPOINT = "omni_file"  # opened by the caller before copy_into_raw; a bad file rolls back to it
LINES_SAVEPOINT = "omni_lines"  # after a JSON lines file's lines are in, before they are read
LOAD_TABLE = sql.Identifier("_omni_load")
LINES_NUMBERS = "pg_temp._omni_lines__omni_row_number_seq"  # the lines table's identity sequence
LINES_TABLE = sql.Identifier("pg_temp", "_omni_lines")
# One line of a JSON lines file per row, in a text column: the control characters used as quote
# and delimiter cannot occur in valid JSON.
_LINES_COPY = (
    sql.SQL(
        "copy {} (line) from stdin with (format csv, quote e'\\x01', delimiter e'\\x02', encoding 'UTF8')"
    )
    .format(LINES_TABLE)
    .as_string()
)
ROW_NUMBER = "_omni_row_number"
# PostgreSQL 16+ extends a table by up to 64 pages at a time during COPY (hio.c,
# MAX_BUFFERS_TO_EXTEND_BY) and leaves the unused ones empty at its end; the next load's rows
# start on the last page written, up to that many pages before the table's end. A load's rows
# are looked for from there: starting at the end missed them and fell back to scanning the
# whole table, once per file (quadratic in the feed's size).
PREALLOCATED_PAGES = 64
# The lines table is emptied after each file: with DELETE, much cheaper than TRUNCATE for small
# files, and with TRUNCATE after a file this long (DELETE would leave its pages to scan).
LINES_TRUNCATE_AFTER = 50_000
# SQLSTATE classes that mean "the database or connection failed", not "this file is bad":
# connection (08), resources (53), operator intervention (57), system (58), internal (XX),
# transaction rollback (40, e.g. deadlock). These abort the run; everything else quarantines.
INFRASTRUCTURE_SQLSTATE_CLASSES = ("08", "53", "57", "58", "XX", "40")
# The forms a number, date or time may take (value_forms): every path checks the text against
# them before PostgreSQL parses it. [0-9] rather than \d: PostgreSQL matches it two to three times
# faster (these run once per value of JSON lines).
ISO_PATTERNS = VALUE_PATTERNS


@dataclass(frozen=True)
class LoadStats:
    """What a load wrote, and the query that completes the figures of its ledger row.

    `figures` is a query of one row (rows, oldest and newest data timestamp, first page, end
    page) with the slots load_id, first_block, first_page, rows, oldest and newest, for the
    caller to run inside its ledger statement (on the direct path that saves the scan a round trip
    of its own). The pages say where the load's rows are in the raw table, first_page <= page <
    end_page, so that readers of a load scan those pages only (raw tables have no index: keeping
    one cost a third of a COPY). `first_page`, when known, is the value of that slot.
    """

    rows: int
    min_data_ts: datetime | None = None
    max_data_ts: datetime | None = None
    figures: sql.Composable | None = None
    first_page: int | None = None


@dataclass(frozen=True)
class LoadTarget:
    """The file's load id, and a page at or before its first row (the first of `start_load_sql`)."""

    load_id: int
    first_block: int  # a page at or before the load's first row (start_load_sql)


class _CheckedPathNeeded(Exception):
    pass


def prepare_session(conn: psycopg.Connection, max_clock_skew: str | None = None) -> None:
    """Once per loading connection; `max_clock_skew` as max_clock_skew() returns it."""
    # Offset-less timestamps are UTC (contract); temp_buffers must be set before the first
    # temporary table of the session, and large files want more than the 8 MB default. The
    # per-file statements are prepared, and their parameters only pick rows by key: planning
    # them once is enough. The lines table lives as long as the session: creating a temporary
    # table per file (catalog rows written and deleted) cost more than loading a small file.
    # DateStyle is fixed too: only ISO 8601 reaches a cast (value_forms), which every DateStyle
    # reads alike, but a server's odd default must not matter anywhere.
    conn.execute(
        sql.SQL(
            "set timezone = 'UTC'; set datestyle = 'ISO, YMD'; set intervalstyle = 'postgres';"
            " set temp_buffers = '256MB'; {}; set plan_cache_mode = force_generic_plan;"
            " select set_config('omni.max_clock_skew', {}, false);"
            " create temporary table if not exists {} (line text, {} bigint generated always as identity)"
        ).format(
            sql.SQL(SESSION_SETTINGS),
            sql.Literal(max_clock_skew or max_clock_skew_setting()),
            sql.Identifier("_omni_lines"),
            sql.Identifier(ROW_NUMBER),
        )
    )
    conn.commit()


MAX_CLOCK_SKEW_ENV = "OMNI_MAX_CLOCK_SKEW"
DEFAULT_MAX_CLOCK_SKEW = "1 day"


def max_clock_skew_setting() -> str:
    """OMNI_MAX_CLOCK_SKEW as PostgreSQL reads an interval: seconds (`86400`), words (`1 day`,
    `12 hours`) or ISO 8601 (`P1D`, `PT12H`); checked by check_max_clock_skew."""
    return os.environ.get(MAX_CLOCK_SKEW_ENV, "").strip() or DEFAULT_MAX_CLOCK_SKEW


def check_max_clock_skew(conn: psycopg.Connection) -> str:
    """The setting, or ValueError saying what to write when it is not a duration of at least zero."""
    value = max_clock_skew_setting()
    try:
        with conn.transaction():
            row = conn.execute("select %s::interval >= interval '0'", (value,)).fetchone()
    except psycopg.errors.DataError:
        row = None
    if not row or not row[0]:
        raise ValueError(
            f"{MAX_CLOCK_SKEW_ENV}={value!r} is not a duration of at least zero: give seconds (86400),"
            " words ('1 day', '12 hours') or ISO 8601 ('P1D')"
        )
    return value


def feed_lock_key(feed: Feed) -> str:
    """Text whose hashtext() keys the advisory lock that serialises loads into the feed's raw table."""
    return f"omni.load.{feed.raw_table}"


def start_load_sql(feed: Feed, file_format: str | None, load_id: sql.Composable) -> list[sql.Composable]:
    """Select-list expressions that set the session up to load one file of `feed`.

    Evaluated once the file's load id is drawn, by a caller holding the feed's lock. The first
    gives the LoadTarget's first_block (the raw table's last page, less the pages a COPY may
    have added ahead of its rows: the next COPY fills those first); the others act: the settings
    the raw table's defaults read, the row sequence restarted at 1 (which also drops this
    session's cached values, so the file's rows number 1..n), and for JSON lines the line
    numbers of the session's lines table restarted.
    """
    items: list[sql.Composable] = [
        sql.SQL(
            "greatest(pg_relation_size({}::regclass) / current_setting('block_size')::bigint - {}, 0)"
        ).format(sql.Literal(f"{RAW_SCHEMA}.{feed.raw_table}"), sql.Literal(1 + PREALLOCATED_PAGES)),
        sql.SQL("set_config('omni.load_id', {}::text, true)").format(load_id),
        sql.SQL("setval({}::regclass, 1, false)").format(sql.Literal(row_sequence(feed))),
        # the newest clock a row may carry (raw_schema.value_checks): the wall clock at load
        # (the transaction's start) plus OMNI_MAX_CLOCK_SKEW
        sql.SQL(
            "set_config({}, (now() + coalesce(nullif(current_setting('omni.max_clock_skew', true), ''), {})"
            "::interval)::text, true)"
        ).format(sql.Literal(CLOCK_LIMIT_SETTING), sql.Literal(DEFAULT_MAX_CLOCK_SKEW)),
    ]
    if file_format == "jsonl":
        items.append(sql.SQL("setval({}::regclass, 1, false)").format(sql.Literal(LINES_NUMBERS)))
    return items


def copy_into_raw(
    conn: psycopg.Connection, prepared: Prepared, item: LandingFile, feed: Feed, target: LoadTarget
) -> LoadStats:
    """Load the file's rows into raw.<table>; raises Quarantine when the file is bad.

    The caller then rolls back to FILE_SAVEPOINT, which removes whatever was written.
    `prepared` runs the statements that are the same for every file of a feed or folder.
    """
    try:
        if item.file_format in ("csv", "parquet"):
            try:
                return _load_direct(conn, prepared, item, feed, target)
            except _CheckedPathNeeded:
                # drop what the direct attempt wrote; the settings are older and stay
                conn.execute(f"rollback to savepoint {FILE_SAVEPOINT}")
            return _load_checked(conn, item, feed)
        return _load_jsonl(conn, prepared, item, feed)
    except psycopg.Error as error:
        if _is_infrastructure(error):
            raise
        raise Quarantine(_describe_db_error(error, item)) from error
    except (OSError, EOFError, ValueError) as error:  # gzip and decoding errors
        raise Quarantine(f"unreadable {item.file_format} file: {error}") from error


def _copy(
    conn: psycopg.Connection,
    statement: sql.Composed | str,
    chunks: Iterable[bytes],
    load_columns: tuple[int, bool] | None = None,
) -> int:
    """Rows copied. `load_columns` (load id, whether the data has a header): append the load's
    columns to each record (with_load_columns), after the file passed the end-of-data check."""
    data = without_end_of_data_marker(chunks)
    if load_columns is not None:
        data = with_load_columns(data, *load_columns)
    with conn.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for chunk in data:
                copy.write(chunk)
        return cursor.rowcount


def _csv_options(feed: Feed, columns: list[str], header: bool) -> sql.Composable:
    options: list[sql.Composable] = [sql.SQL(f"format csv, header {str(header).lower()}, encoding 'UTF8'")]
    typed = [c.name for c in feed.columns if c.name in columns and c.type != "text"]
    if typed:  # a quoted empty string in a number/date/bool column means "no value"
        options.append(sql.SQL("force_null ({})").format(sql.SQL(", ").join(map(sql.Identifier, typed))))
    return sql.SQL(", ").join(options)


def _scope_mismatch(
    channel_id: str | None, feed: Feed, value: sql.Composable, row: sql.Composable
) -> sql.Composable:
    """Aggregate: the first row whose channel is not the folder's (channel files), else null."""
    if not feed.path_scope or channel_id is None:
        return sql.SQL("null::bigint")
    return sql.SQL("min({}) filter (where {} is distinct from {})").format(
        row, value, sql.Literal(channel_id)
    )


def _misdelivered(feed: Feed, item: LandingFile, row: int, value: object, what: str = "row") -> Quarantine:
    return Quarantine(
        f"{what} {row}: {feed.path_scope} {value!r} does not match the folder's channel {item.channel_id!r}"
    )


# --- direct path ----------------------------------------------------------------------------


def _load_direct(
    conn: psycopg.Connection,
    prepared: Prepared,
    item: LandingFile,
    feed: Feed,
    target: LoadTarget,
    load_columns: bool = True,
) -> LoadStats:
    """The file's rows straight into the raw table; with `load_columns`, the records carry the
    load's columns (with_load_columns), else the table's defaults compute them."""
    known = {c.name for c in feed.columns}
    load_id = target.load_id if load_columns else None
    try:
        if item.file_format == "parquet":
            columns = parquet_columns(item)
            check_header(feed, columns)
            if set(columns) - known:
                raise _CheckedPathNeeded
            chunks: Iterator[bytes] = parquet_as_csv(item, lambda batch: check_plain_batch(feed, batch))
            rows = _copy_guarded(conn, feed, columns, chunks, load_id, header=False, check=None)
        else:
            with csv_file(item) as (columns, chunks):
                check_header(feed, columns)
                if set(columns) - known:
                    raise _CheckedPathNeeded
                check = PlainValueCheck(feed, columns, header=True)
                rows = _copy_guarded(conn, feed, columns, chunks, load_id, header=True, check=check)
    except psycopg.Error as error:
        if load_id is None or _is_infrastructure(error):
            raise
        # A short record's appended columns would shift into its own: COPY would name the wrong
        # column. The file again without them, for COPY's own account of what is wrong.
        conn.execute(f"rollback to savepoint {FILE_SAVEPOINT}")
        return _load_direct(conn, prepared, item, feed, target, load_columns=False)
    return _direct_stats(prepared, item, feed, target, rows)


def _copy_guarded(
    conn: psycopg.Connection,
    feed: Feed,
    columns: list[str],
    chunks: Iterator[bytes],
    load_id: int | None,
    header: bool,
    check: PlainValueCheck | None,
) -> int:
    """Rows copied; _CheckedPathNeeded when a chunk holds a special time word or a value in a
    form the contract refuses (`check`: CSV; Parquet checks its batches as they are read)."""
    data = without_special_time_words(chunks)
    try:
        rows = _copy(
            conn,
            _direct_copy_sql(feed, tuple(columns), header, load_id is not None),
            check.chunks(data) if check else data,
            None if load_id is None else (load_id, header),
        )
    except (SpecialWordFound, NotPlainValue) as found:
        raise _CheckedPathNeeded from found
    except psycopg.errors.QueryCanceled as cancelled:  # COPY aborted by the raise above, on some drivers
        if isinstance(cancelled.__context__, SpecialWordFound | NotPlainValue):
            raise _CheckedPathNeeded from cancelled
        raise
    if check and check.checked and check.rows != rows:  # PostgreSQL read the records otherwise
        raise _CheckedPathNeeded
    return rows


@cache
def _direct_copy_sql(feed: Feed, columns: tuple[str, ...], header: bool, load_columns: bool) -> str:
    targets = [*columns, "_load_id"] if load_columns else list(columns)
    return (
        sql.SQL("copy {} ({}) from stdin with ({})")
        .format(
            sql.Identifier(RAW_SCHEMA, feed.raw_table),
            sql.SQL(", ").join(map(sql.Identifier, targets)),
            _csv_options(feed, list(columns), header),
        )
        .as_string()
    )


class _ChannelScan(TypedDict):
    """The values of _channel_queries' templates (their keys, none of them Prepared.execute's own)."""

    load_id: int
    first_block: str
    channel: str


def _direct_stats(
    prepared: Prepared, item: LandingFile, feed: Feed, target: LoadTarget, rows: int
) -> LoadStats:
    """Count and time range of the rows just copied, scanning only their pages; channel check.

    Files without a channel to check leave the scan to the caller's ledger statement
    (scan_query); channel files run it now, since a row of another channel quarantines the file.
    """
    if not feed.path_scope or item.channel_id is None:
        return LoadStats(rows, figures=scan_query(feed))
    values: _ChannelScan = {
        "load_id": target.load_id,
        "first_block": f"({target.first_block},0)",
        "channel": item.channel_id,
    }
    pages, everywhere, value = _channel_queries(feed)
    row = prepared.execute(pages, **values).fetchone()
    first_page = target.first_block
    if row is None or row[0] != rows:
        row = prepared.execute(everywhere, **values).fetchone()
        assert row is not None
        first_page = row[4]
    assert row is not None
    if row[3] is not None:
        found = prepared.execute(value, **values, row=row[3]).fetchone()
        raise _misdelivered(feed, item, row[3], found[0] if found else None)
    return LoadStats(int(row[0]), row[1], row[2], figures=known_pages_query(feed), first_page=first_page)


# Where a load's rows are: the page of the first, and the raw table's end (an upper bound: the
# caller holds the feed's lock, so no other load writes to the table meanwhile).
_FIRST_PAGE = "(min(ctid)::text::point)[0]::bigint"


def _end_page(table: sql.Composable) -> sql.Composable:
    return sql.SQL("pg_relation_size({}::regclass) / current_setting('block_size')::bigint").format(
        sql.Literal(table.as_string())
    )


@cache
def scan_query(feed: Feed) -> sql.Composable:
    """The ledger figures of a direct load, from the raw table's pages where it started.

    New rows go to the table's last pages (start_load_sql) and after them, unless PostgreSQL
    reused free space further back (after a file's rows were rolled back and VACUUM freed their
    space): then the count falls short of the COPY's, and the whole table is read for the load's
    rows, and for the page of its first. Slots: load_id, first_block, first_page, rows.
    """
    ts, table = sql.Identifier(feed.time_column), sql.Identifier(RAW_SCHEMA, feed.raw_table)
    return sql.SQL(
        "select case when q.n = {rows} then q.n else a.n end, case when q.n = {rows} then q.lo else a.lo end,"
        " case when q.n = {rows} then q.hi else a.hi end,"
        " case when q.n = {rows} then {first_page}::bigint else a.first_page end, {end_page}"
        " from (select count(*) as n, min({ts}) as lo, max({ts}) as hi from {t}"
        " where ctid >= {first_block}::tid and _load_id = {load_id}) as q"
        # scanned only when the pages fall short (a one-time filter on q.n)
        " cross join lateral (select count(*) as n, min({ts}) as lo, max({ts}) as hi, {page} as first_page"
        " from {t} where _load_id = {load_id} and q.n <> {rows}) as a"
    ).format(ts=ts, **_figure_parts(table))


@cache
def placement_query(feed: Feed) -> sql.Composable:
    """The ledger figures of a load whose rows and time range are known (slots rows, oldest,
    newest), with its pages found as scan_query finds them. Slots: load_id, first_block,
    first_page, rows, oldest, newest."""
    table = sql.Identifier(RAW_SCHEMA, feed.raw_table)
    return sql.SQL(
        "select {rows}::bigint, {oldest}::timestamptz, {newest}::timestamptz,"
        " case when q.n = {rows} then {first_page}::bigint else a.first_page end, {end_page}"
        " from (select count(*) as n from {t} where ctid >= {first_block}::tid and _load_id = {load_id}) as q"
        " cross join lateral (select {page} as first_page from {t} where _load_id = {load_id} and q.n <> {rows}) as a"
    ).format(oldest=sql.Placeholder("oldest"), newest=sql.Placeholder("newest"), **_figure_parts(table))


def _figure_parts(table: sql.Identifier) -> dict[str, sql.Composable]:
    """What scan_query and placement_query are made of: their slots, the table, its pages."""
    return {
        "rows": sql.Placeholder("rows"),
        "t": table,
        "first_block": sql.Placeholder("first_block"),
        "first_page": sql.Placeholder("first_page"),
        "load_id": sql.Placeholder("load_id"),
        "page": sql.SQL(_FIRST_PAGE),
        "end_page": _end_page(table),
    }


@cache
def known_pages_query(feed: Feed) -> sql.Composable:
    """The ledger figures of a load whose rows, time range and first page are known."""
    return sql.SQL("select {}::bigint, {}::timestamptz, {}::timestamptz, {}::bigint, {}").format(
        sql.Placeholder("rows"),
        sql.Placeholder("oldest"),
        sql.Placeholder("newest"),
        sql.Placeholder("first_page"),
        _end_page(sql.Identifier(RAW_SCHEMA, feed.raw_table)),
    )


@cache
def _channel_queries(feed: Feed) -> tuple[Template, Template, Template]:
    """(stats and first row of another channel, from the load's pages / anywhere, with the page
    of its first row; a row's channel)."""
    ts, table = sql.Identifier(feed.time_column), sql.Identifier(RAW_SCHEMA, feed.raw_table)
    scope, load_id = sql.Identifier(feed.path_scope or ""), sql.Placeholder("load_id")
    query = sql.SQL(
        "select count(*), min({ts}), max({ts}), min(_row_number) filter (where {scope} is distinct from {channel})"
        "{page} from {t} where {w}"
    )
    mine = sql.SQL("_load_id = {}").format(load_id)
    pages = sql.SQL("ctid >= {}::tid and {}").format(sql.Placeholder("first_block"), mine)
    common = {"ts": ts, "scope": scope, "channel": sql.Placeholder("channel"), "t": table}
    return (
        Template(query.format(w=pages, page=sql.SQL(""), **common)),
        Template(query.format(w=mine, page=sql.SQL(", " + _FIRST_PAGE), **common)),
        Template(
            sql.SQL("select {} from {} where {} and _row_number = {}").format(
                scope, table, mine, sql.Placeholder("row")
            )
        ),
    )


# --- checked path ---------------------------------------------------------------------------


def is_valid_sql(column: Column, value: sql.Composable) -> sql.Composable:
    """SQL that is true when the text `value` is a well-formed value of the column's type, in a
    form the contract accepts (value_forms)."""
    valid = sql.SQL("pg_input_is_valid({}, {})").format(value, sql.Literal(column.type))
    pattern = VALUE_PATTERNS.get(column.type)
    if pattern:
        valid = sql.SQL("({} ~ {} and {})").format(value, sql.Literal(pattern), valid)
    return valid


def _staged_type(column: Column) -> str:
    """Numbers, dates and times stage as checked text (value_forms); booleans parse during COPY."""
    return "text" if column.type in VALUE_PATTERNS else column.type


def _create_load_table(conn: psycopg.Connection, feed: Feed, columns: list[str]) -> None:
    known = {c.name: c for c in feed.columns}
    not_null = set(feed.required_value_columns)
    defs = []
    for name in columns:
        column = known.get(name)
        if column is None:
            defs.append(sql.SQL("{} text").format(sql.Identifier(name)))
            continue
        parts = [sql.Identifier(name), sql.SQL(_staged_type(column))]
        if name in not_null:
            parts.append(sql.SQL("not null"))
        if column.type in VALUE_PATTERNS:
            # The constraint's name is what PostgreSQL reports, with the line, when a value breaks it.
            parts.append(
                sql.SQL("constraint {} check ({})").format(
                    sql.Identifier(f"{name}: {VALUE_RULES[column.type]}"),
                    is_valid_sql(column, sql.Identifier(name)),
                )
            )
        defs.append(sql.SQL(" ").join(parts))
    defs.append(sql.SQL("{} integer generated always as identity").format(sql.Identifier(ROW_NUMBER)))
    conn.execute(
        sql.SQL("create temporary table {} ({}) on commit drop").format(LOAD_TABLE, sql.SQL(", ").join(defs))
    )


def _load_checked(conn: psycopg.Connection, item: LandingFile, feed: Feed) -> LoadStats:
    if item.file_format == "parquet":
        columns = parquet_columns(item)
        check_header(feed, columns, (ROW_NUMBER,))
        _create_load_table(conn, feed, columns)
        _copy_staged(conn, feed, columns, parquet_as_csv(item), header=False)
    else:
        with csv_file(item) as (columns, chunks):
            check_header(feed, columns, (ROW_NUMBER,))
            _create_load_table(conn, feed, columns)
            _copy_staged(conn, feed, columns, chunks, header=True)
    row = conn.execute(
        sql.SQL("select {bad} from {t}").format(
            bad=_scope_mismatch(
                item.channel_id, feed, sql.Identifier(feed.path_scope or ""), sql.Identifier(ROW_NUMBER)
            ),
            t=LOAD_TABLE,
        )
    ).fetchone()
    if row and row[0] is not None:
        found = conn.execute(
            sql.SQL("select {} from {} where {} = {}").format(
                sql.Identifier(feed.path_scope or ""),
                LOAD_TABLE,
                sql.Identifier(ROW_NUMBER),
                sql.Literal(row[0]),
            )
        ).fetchone()
        raise _misdelivered(feed, item, row[0], found[0] if found else None)
    return _move_to_raw(conn, feed, columns)


def _copy_staged(
    conn: psycopg.Connection, feed: Feed, columns: list[str], chunks: Iterable[bytes], header: bool
) -> None:
    statement = sql.SQL("copy {} ({}) from stdin with ({})").format(
        LOAD_TABLE, sql.SQL(", ").join(map(sql.Identifier, columns)), _csv_options(feed, columns, header)
    )
    _copy(conn, statement, chunks)


def _move_to_raw(conn: psycopg.Connection, feed: Feed, columns: list[str]) -> LoadStats:
    known = [c for c in feed.columns if c.name in columns]
    extras = [c for c in columns if c not in {k.name for k in known}]
    extra_expr = (
        sql.SQL("jsonb_strip_nulls(to_jsonb(l) - {}::text[])").format(
            sql.Literal([*(k.name for k in known), ROW_NUMBER])
        )
        if extras
        else sql.SQL("null")
    )
    ts = sql.SQL("{}::timestamptz").format(sql.Identifier(feed.time_column))
    # The load table goes with its file: ON COMMIT DROP alone would leave it in the way of the
    # next file of the same transaction.
    cursor = conn.execute(
        sql.SQL(
            "insert into {target} ({cols}, _extra, _row_number) select {src}, {extra}, l.{rn} from {load} as l;"
            " select count(*), min({ts}), max({ts}) from {load}; drop table {load}"
        ).format(
            target=sql.Identifier(RAW_SCHEMA, feed.raw_table),
            cols=sql.SQL(", ").join(sql.Identifier(k.name) for k in known),
            src=sql.SQL(", ").join(
                sql.SQL("l.{}::{}").format(sql.Identifier(k.name), sql.SQL(k.type)) for k in known
            ),
            extra=extra_expr,
            rn=sql.Identifier(ROW_NUMBER),
            load=LOAD_TABLE,
            ts=ts,
        )
    )
    cursor.nextset()
    row = cursor.fetchone()
    assert row is not None
    return LoadStats(int(row[0]), row[1], row[2], figures=placement_query(feed))


# --- JSON lines -----------------------------------------------------------------------------


def _load_jsonl(conn: psycopg.Connection, prepared: Prepared, item: LandingFile, feed: Feed) -> LoadStats:
    # One line per row into a text column of the session's lines table (the control characters
    # used as quote and delimiter cannot occur in valid JSON; start_load_sql restarted the line
    # numbers). Then one statement, the same for every file of a folder and so prepared once,
    # parses each line once, checks what a cast would let through (ISO 8601 dates and times,
    # required values, the channel), writes the raw rows if the checks pass and empties the
    # lines table. A file it refuses, or on which it fails (a value that does not cast, a line
    # that is not JSON), is rolled back to before it and examined value by value for the reason.
    with jsonl_bytes(item) as chunks:
        copied = _copy(conn, _LINES_COPY, chunks)
    try:
        row = prepared.execute(
            _jsonl_insert_sql(feed, item.channel_id), before=[f"savepoint {LINES_SAVEPOINT}"]
        ).fetchone()
    except psycopg.Error as error:
        if _is_infrastructure(error):
            raise
        conn.execute(f"rollback to savepoint {LINES_SAVEPOINT}")
        raise Quarantine(_jsonl_problem(conn, item, feed) or _describe_db_error(error, item)) from error
    assert row is not None
    lines, accepted, oldest, newest = row
    if not accepted:
        conn.execute(f"rollback to savepoint {LINES_SAVEPOINT}")
        raise Quarantine(_jsonl_problem(conn, item, feed) or "refused, for no reason found")
    if copied > LINES_TRUNCATE_AFTER:  # the DELETE left the pages of all those lines behind
        conn.execute(sql.SQL("truncate {}").format(LINES_TABLE))
    return LoadStats(int(lines), oldest, newest, figures=placement_query(feed))


@cache
def _jsonl_insert_sql(feed: Feed, channel_id: str | None) -> Template:
    """The raw rows of the lines, if every line passes the cheap checks; the lines table emptied.

    One row: (lines, accepted, oldest and newest clock). Accepted: every line a JSON object,
    every required field in some line, no reserved field name, dates and times ISO 8601, the
    key, scope and clock present, the channel the folder's. Casting the values (in the insert)
    checks the rest, by failing.
    """
    rn = sql.Identifier(ROW_NUMBER)
    known = sql.Literal([c.name for c in feed.columns])
    clock = sql.SQL("(j ->> {})").format(sql.Literal(feed.time_column))
    not_null = set(feed.required_value_columns)
    refusals: list[sql.Composable] = []
    for col in feed.columns:
        value = sql.SQL("(j ->> {})").format(sql.Literal(col.name))
        if col.name in not_null:
            refusals.append(sql.SQL("{} is null").format(value))
        if col.type in VALUE_PATTERNS:
            refusals.append(sql.SQL("{} !~ {}").format(value, sql.Literal(VALUE_PATTERNS[col.type])))
    if feed.path_scope and channel_id is not None:
        refusals.append(
            sql.SQL("(j ->> {}) is distinct from {}").format(
                sql.Literal(feed.path_scope), sql.Literal(channel_id)
            )
        )
    # A required field must be in some line; one that may not be null is checked line by line above.
    present = [
        sql.SQL("bool_or(j ? {})").format(sql.Literal(c.name))
        for c in feed.columns
        if c.required and c.name not in not_null
    ]
    return Template(
        sql.SQL(
            """with json_lines as materialized (
    -- each line parsed once: a subquery would be inlined, and the line parsed at every use of j
    select {rn}, line::jsonb as j from {lines} where btrim(line) <> ''
), parsed as materialized (
    -- per line: whether it is an object, whether it has fields the registry lacks
    select {rn}, j, object, case when object then j - {known}::text[] <> '{{}}' end as extra
    from (select {rn}, j, jsonb_typeof(j) = 'object' as object from json_lines) as typed
), checks as (
    select count(*) as lines, coalesce(bool_or(extra), false) as extras,
        bool_and(object) and {present}
        and not coalesce(bool_or(case when object then {refused} end), false)
        and not coalesce(bool_or(case when extra then exists (
            select from jsonb_object_keys(j) as k where k like '\\_omni%'
        ) end), false) as accepted,
        min({clock}::timestamptz) as oldest, max({clock}::timestamptz) as newest
    from parsed
), written as (
    insert into {target} ({columns}, _extra, _row_number)
    select {casts},
        -- fields the registry does not list, as text (as the checked path keeps them); a file
        -- with none has no _extra, and rows without them get {{}}
        case when checks.extras then jsonb_strip_nulls(coalesce((
            select jsonb_object_agg(e.key, e.value #>> '{{}}') from jsonb_each(j) as e where e.key <> all({known})
        ), '{{}}')) end,
        row_number() over (order by {rn})
    from parsed, checks
    where checks.accepted
), emptied as (
    delete from {lines}
)
select lines, accepted and lines > 0, oldest, newest from checks"""
        ).format(
            rn=rn,
            lines=LINES_TABLE,
            present=sql.SQL(" and ").join(present) if present else sql.SQL("true"),
            refused=sql.SQL(" or ").join(refusals) if refusals else sql.SQL("false"),
            clock=clock,
            target=sql.Identifier(RAW_SCHEMA, feed.raw_table),
            columns=sql.SQL(", ").join(sql.Identifier(c.name) for c in feed.columns),
            casts=sql.SQL(", ").join(
                sql.SQL("(j ->> {})::{}").format(sql.Literal(c.name), sql.SQL(c.type)) for c in feed.columns
            ),
            known=known,
        )
    )


def _jsonl_problem(conn: psycopg.Connection, item: LandingFile, feed: Feed) -> str | None:
    """Why the lines of a refused file cannot load, checking every value; None if nothing is found.

    In order: a line that is not a JSON object, no line at all, the fields (as a header), the first
    column in registry order with an unusable value (not a well-formed value of its type, ISO
    8601 for dates and times; none for the key, scope and clock), a line of another channel.
    """
    row = conn.execute(_jsonl_diagnosis(feed, item.channel_id)).fetchone()
    assert row is not None
    not_object, keys, misdelivered, scope_value, *problems = row
    if not_object is not None:
        return f"line {not_object}: not a JSON object"
    present = set(keys or ())
    if not present:
        return "empty file: no JSON lines"
    ordered = [c.name for c in feed.columns if c.name in present]
    try:
        check_header(feed, ordered + sorted(present - set(ordered)), (ROW_NUMBER,))
    except Quarantine as problem:
        return str(problem)
    for col, line, value in zip(_jsonl_checked(feed), problems[::2], problems[1::2], strict=True):
        if line is not None:
            issue = "missing value" if value is None else f"invalid {col.type} {value!r}"
            return f"line {line}, column {col.name}: {issue}"
    if misdelivered is not None:
        return str(_misdelivered(feed, item, misdelivered, scope_value, "line"))
    return None


@cache
def _jsonl_checked(feed: Feed) -> list[Column]:
    """The columns whose values can be unusable: typed ones, and those whose value is required."""
    not_null = set(feed.required_value_columns)
    return [c for c in feed.columns if c.name in not_null or c.type != "text"]


@cache
def _jsonl_diagnosis(feed: Feed, channel_id: str | None) -> str:
    """One row: first line not a JSON object, the fields present, first line of another channel
    and its channel, then for each _jsonl_checked column its first unusable line and value."""
    rn = sql.Identifier(ROW_NUMBER)
    not_null = set(feed.required_value_columns)
    problems = []
    for col in _jsonl_checked(feed):
        value = sql.SQL("(j ->> {})").format(sql.Literal(col.name))
        conditions = []
        if col.name in not_null:
            conditions.append(sql.SQL("{} is null").format(value))
        if col.type != "text":
            conditions.append(sql.SQL("not {}").format(is_valid_sql(col, value)))
        bad = sql.SQL(" or ").join(conditions)
        problems.append(
            sql.SQL(
                ", min({rn}) filter (where {c}), (array_agg({v} order by {rn}) filter (where {c}))[1]"
            ).format(rn=rn, c=bad, v=value)
        )
    scope = sql.SQL("(j ->> {})").format(sql.Literal(feed.path_scope or ""))
    scoped = feed.path_scope is not None and channel_id is not None
    return (
        sql.SQL(
            """with parsed as materialized (
    -- CASE, unlike AND, guarantees that no line is cast before it is known to be valid JSON
    select {rn}, case when pg_input_is_valid(line, 'jsonb') then case when jsonb_typeof(line::jsonb) = 'object'
        then line::jsonb end end as j
    from {lines} where btrim(line) <> ''
)
select min({rn}) filter (where j is null),
    (select array_agg(distinct k) from parsed, jsonb_object_keys(parsed.j) as k),
    {misdelivered}, {scope_value}{problems}
from parsed"""
        )
        .format(
            rn=rn,
            lines=LINES_TABLE,
            misdelivered=_scope_mismatch(channel_id, feed, scope, rn),
            scope_value=(
                sql.SQL("(array_agg({v} order by {rn}) filter (where {v} is distinct from {c}))[1]").format(
                    v=scope, rn=rn, c=sql.Literal(channel_id)
                )
                if scoped
                else sql.SQL("null::text")
            ),
            problems=sql.SQL("").join(problems),
        )
        .as_string()
    )


# --- shared ---------------------------------------------------------------------------------


def _is_infrastructure(error: psycopg.Error) -> bool:
    """True when the database or connection failed; False when the file's content was refused.

    Errors raised client-side by psycopg carry no SQLSTATE: a lost connection is an
    OperationalError, while e.g. a DataError there means a value it cannot send (a NUL byte).
    """
    state = error.sqlstate or ""
    if not state:
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return state[:2] in INFRASTRUCTURE_SQLSTATE_CLASSES


_CONTEXT = re.compile(r"line (?P<line>\d+)(?:, column (?P<column>[^:]+))?")


def _describe_db_error(error: psycopg.Error, item: LandingFile) -> str:
    message = (error.diag.message_primary or str(error)).strip()
    column = None
    if isinstance(error, psycopg.errors.NotNullViolation) and error.diag.column_name:
        message = f"missing value in required column {error.diag.column_name}"
    elif isinstance(error, psycopg.errors.CheckViolation) and ": " in (error.diag.constraint_name or ""):
        # constraints are named "<column>: <rule>" (here and raw_schema.value_checks)
        column, message = (error.diag.constraint_name or "").split(": ", 1)
        if message == FUTURE_TIMESTAMP_RULE:
            message = f"future timestamp: more than OMNI_MAX_CLOCK_SKEW ({max_clock_skew_setting()}) after the wall clock at load"
    found = _CONTEXT.search(error.diag.context or "")
    column = column or (found["column"] if found else None)
    if found and item.file_format == "csv":
        where = f"line {found['line']}" + (f", column {column}" if column else "")
        return f"{where}: {message}"
    return f"column {column}: {message}" if column else message
