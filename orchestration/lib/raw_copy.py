"""COPY of one landing file into its raw table, inside the caller's transaction.

Two paths, same result:
- direct: CSV and Parquet files whose columns are all known to the registry stream straight
  into `raw.<table>`; load metadata comes from column defaults fed by transaction-local
  settings, so the bytes cross into PostgreSQL once (close to a bare COPY);
- checked: files with extra columns, JSON lines, or words PostgreSQL would read as dates
  ('now', 'epoch', ...) go through a typed temporary table, which checks ISO 8601 dates and
  times and keeps extra columns, then move to the raw table in one INSERT ... SELECT.
Either way PostgreSQL parses every value, and the first bad one is reported with its line and
column, which quarantines the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

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
    without_end_of_data_marker,
    without_special_time_words,
)
from orchestration.lib.landing import LandingFile
from orchestration.lib.raw_schema import RAW_SCHEMA, row_sequence

LOAD_TABLE = sql.Identifier("_omni_load")
LINES_TABLE = sql.Identifier("_omni_lines")
ROW_NUMBER = "_omni_row_number"
# SQLSTATE classes that mean "the database or connection failed", not "this file is bad":
# connection (08), resources (53), operator intervention (57), system (58), internal (XX),
# transaction rollback (40, e.g. deadlock). These abort the run; everything else quarantines.
INFRASTRUCTURE_SQLSTATE_CLASSES = ("08", "53", "57", "58", "XX", "40")
ISO_PATTERNS = {
    "date": r"^\s*\d{4}-\d{2}-\d{2}\s*$",
    "timestamptz": r"^\s*\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?\s*$",
}


@dataclass(frozen=True)
class LoadStats:
    rows: int
    min_data_ts: datetime | None
    max_data_ts: datetime | None


class _CheckedPathNeeded(Exception):
    pass


def prepare_session(conn: psycopg.Connection) -> None:
    """Once per loading connection."""
    # Offset-less timestamps are UTC (contract); temp_buffers must be set before the first
    # temporary table of the session, and large files want more than the 8 MB default.
    conn.execute("set timezone = 'UTC'")
    conn.execute("set temp_buffers = '256MB'")
    conn.commit()


def copy_into_raw(
    conn: psycopg.Connection, item: LandingFile, feed: Feed, load_id: int, file_hash: str
) -> LoadStats:
    """Load the file's rows into raw.<table>; raises Quarantine (nothing written) when the file is bad."""
    conn.execute(
        "select set_config('omni.load_id', %s, true), set_config('omni.file_hash', %s, true)",
        (str(load_id), file_hash),
    )
    try:
        with conn.transaction():  # savepoint: a bad file leaves the caller's transaction usable
            if item.file_format in ("csv", "parquet"):
                try:
                    with conn.transaction():
                        return _load_direct(conn, item, feed, load_id)
                except _CheckedPathNeeded:
                    pass
            return _load_checked(conn, item, feed, load_id)
    except psycopg.Error as error:
        if _is_infrastructure(error):
            raise
        raise Quarantine(_describe_db_error(error, item)) from error
    except (OSError, EOFError, ValueError) as error:  # gzip and decoding errors
        raise Quarantine(f"unreadable {item.file_format} file: {error}") from error


def _start_row_numbers(conn: psycopg.Connection, feed: Feed) -> None:
    """Take the feed's load lock and set omni.row_base so this file's rows number from 1."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"omni.load.{feed.raw_table}",))
    conn.execute(
        sql.SQL("select set_config('omni.row_base', nextval({})::text, true)").format(
            sql.Literal(row_sequence(feed))
        )
    )


def _copy(conn: psycopg.Connection, statement: sql.Composable, chunks: Iterable[bytes]) -> None:
    with conn.cursor().copy(statement) as copy:
        for chunk in without_end_of_data_marker(chunks):
            copy.write(chunk)


def _csv_options(feed: Feed, columns: list[str], header: bool) -> sql.Composable:
    options = [sql.SQL(f"format csv, header {str(header).lower()}, encoding 'UTF8'")]
    typed = [c.name for c in feed.columns if c.name in columns and c.type != "text"]
    if typed:  # a quoted empty string in a number/date/bool column means "no value"
        options.append(sql.SQL("force_null ({})").format(sql.SQL(", ").join(map(sql.Identifier, typed))))
    return sql.SQL(", ").join(options)


# --- direct path ----------------------------------------------------------------------------


def _load_direct(conn: psycopg.Connection, item: LandingFile, feed: Feed, load_id: int) -> LoadStats:
    known = {c.name for c in feed.columns}
    target = sql.Identifier(RAW_SCHEMA, feed.raw_table)
    _start_row_numbers(conn, feed)
    if item.file_format == "parquet":
        columns = parquet_columns(item)
        check_header(feed, columns)
        if set(columns) - known:
            raise _CheckedPathNeeded
        chunks: Iterator[bytes] = parquet_as_csv(item)
        _copy_guarded(conn, target, feed, columns, chunks, header=False)
    else:
        with csv_file(item) as (columns, chunks):
            check_header(feed, columns)
            if set(columns) - known:
                raise _CheckedPathNeeded
            _copy_guarded(conn, target, feed, columns, chunks, header=True)
    where = sql.SQL("_load_id = {}").format(sql.Literal(load_id))
    _check_path_scope(conn, item, feed, target, where, "_row_number")
    return _stats(conn, feed, target, where)


def _copy_guarded(
    conn: psycopg.Connection,
    target: sql.Composable,
    feed: Feed,
    columns: list[str],
    chunks: Iterator[bytes],
    header: bool,
) -> None:
    statement = sql.SQL("copy {} ({}) from stdin with ({})").format(
        target, sql.SQL(", ").join(map(sql.Identifier, columns)), _csv_options(feed, columns, header)
    )
    try:
        _copy(conn, statement, without_special_time_words(chunks))
    except SpecialWordFound as found:
        raise _CheckedPathNeeded from found
    except psycopg.errors.QueryCanceled as cancelled:  # COPY aborted by the raise above, on some drivers
        if isinstance(cancelled.__context__, SpecialWordFound):
            raise _CheckedPathNeeded from cancelled
        raise


# --- checked path ---------------------------------------------------------------------------


def is_valid_sql(column: Column, value: sql.Composable) -> sql.Composable:
    """SQL that is true when the text `value` is a well-formed value of the column's type."""
    valid = sql.SQL("pg_input_is_valid({}, {})").format(value, sql.Literal(column.type))
    pattern = ISO_PATTERNS.get(column.type)
    if pattern:
        valid = sql.SQL("({} ~ {} and {})").format(value, sql.Literal(pattern), valid)
    return valid


def _staged_type(column: Column) -> str:
    """Dates and times stage as checked text (see ISO_PATTERNS); other types parse during COPY."""
    return "text" if column.type in ISO_PATTERNS else column.type


def _create_load_table(conn: psycopg.Connection, feed: Feed, columns: list[str]) -> None:
    known = {c.name: c for c in feed.columns}
    not_null = set(feed.not_null_columns)
    defs = []
    for name in columns:
        column = known.get(name)
        if column is None:
            defs.append(sql.SQL("{} text").format(sql.Identifier(name)))
            continue
        parts = [sql.Identifier(name), sql.SQL(_staged_type(column))]
        if name in not_null:
            parts.append(sql.SQL("not null"))
        if column.type in ISO_PATTERNS:
            # The constraint's name is what PostgreSQL reports, with the line, when a value breaks it.
            parts.append(
                sql.SQL("constraint {} check ({})").format(
                    sql.Identifier(f"{name}: not an ISO 8601 {column.type}"),
                    is_valid_sql(column, sql.Identifier(name)),
                )
            )
        defs.append(sql.SQL(" ").join(parts))
    defs.append(sql.SQL("{} integer generated always as identity").format(sql.Identifier(ROW_NUMBER)))
    conn.execute(
        sql.SQL("create temporary table {} ({}) on commit drop").format(LOAD_TABLE, sql.SQL(", ").join(defs))
    )


def _load_checked(conn: psycopg.Connection, item: LandingFile, feed: Feed, load_id: int) -> LoadStats:
    if item.file_format == "jsonl":
        columns = _stage_jsonl(conn, item, feed)
    elif item.file_format == "parquet":
        columns = parquet_columns(item)
        check_header(feed, columns, (ROW_NUMBER,))
        _create_load_table(conn, feed, columns)
        _copy_staged(conn, feed, columns, parquet_as_csv(item), header=False)
    else:
        with csv_file(item) as (columns, chunks):
            check_header(feed, columns, (ROW_NUMBER,))
            _create_load_table(conn, feed, columns)
            _copy_staged(conn, feed, columns, chunks, header=True)
    _check_path_scope(conn, item, feed, LOAD_TABLE, sql.SQL("true"), ROW_NUMBER)
    return _move_to_raw(conn, feed, columns, load_id)


def _copy_staged(
    conn: psycopg.Connection, feed: Feed, columns: list[str], chunks: Iterable[bytes], header: bool
) -> None:
    statement = sql.SQL("copy {} ({}) from stdin with ({})").format(
        LOAD_TABLE, sql.SQL(", ").join(map(sql.Identifier, columns)), _csv_options(feed, columns, header)
    )
    _copy(conn, statement, chunks)


def _stage_jsonl(conn: psycopg.Connection, item: LandingFile, feed: Feed) -> list[str]:
    # One line per row into a text column (the control characters used as quote and delimiter
    # cannot occur in valid JSON), then PostgreSQL parses the JSON and casts each field.
    conn.execute(
        sql.SQL(
            "create temporary table {} (line text, {} integer generated always as identity) on commit drop"
        ).format(LINES_TABLE, sql.Identifier(ROW_NUMBER))
    )
    statement = sql.SQL(
        "copy {} (line) from stdin with (format csv, quote e'\\x01', delimiter e'\\x02', encoding 'UTF8')"
    ).format(LINES_TABLE)
    with jsonl_bytes(item) as chunks:
        _copy(conn, statement, chunks)
    conn.execute(sql.SQL("delete from {} where line is null or btrim(line) = ''").format(LINES_TABLE))
    bad = conn.execute(
        sql.SQL(
            "select {rn} from {t} where case when pg_input_is_valid(line, 'jsonb')"
            " then jsonb_typeof(line::jsonb) <> 'object' else true end order by {rn} limit 1"
        ).format(rn=sql.Identifier(ROW_NUMBER), t=LINES_TABLE)
    ).fetchone()
    if bad:
        raise Quarantine(f"line {bad[0]}: not a JSON object")
    present = {
        row[0]
        for row in conn.execute(
            sql.SQL("select distinct jsonb_object_keys(line::jsonb) from {}").format(LINES_TABLE)
        )
    }
    if not present:
        raise Quarantine("empty file: no JSON lines")
    ordered = [c.name for c in feed.columns if c.name in present]
    columns = ordered + sorted(present - set(ordered))
    check_header(feed, columns, (ROW_NUMBER,))
    _create_load_table(conn, feed, columns)
    known = {c.name: c for c in feed.columns}
    casts = [
        sql.SQL("(j ->> {})::{}").format(
            sql.Literal(name), sql.SQL(_staged_type(known[name]) if name in known else "text")
        )
        for name in columns
    ]
    try:
        with conn.transaction():
            conn.execute(
                # offset 0 keeps the planner from re-parsing the JSON once per column
                sql.SQL(
                    "insert into {} ({}) select {} from (select line::jsonb as j, {rn} from {} offset 0) s order by {rn}"
                ).format(
                    LOAD_TABLE,
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(casts),
                    LINES_TABLE,
                    rn=sql.Identifier(ROW_NUMBER),
                )
            )
    except psycopg.Error as error:
        if _is_infrastructure(error):
            raise
        raise Quarantine(
            _locate_jsonl_error(conn, feed, columns) or _describe_db_error(error, item)
        ) from error
    return columns


def _locate_jsonl_error(conn: psycopg.Connection, feed: Feed, columns: Iterable[str]) -> str | None:
    """Line and column of the first value PostgreSQL cannot read (pg_input_is_valid, PostgreSQL 16+)."""
    not_null = set(feed.not_null_columns)
    for col in feed.columns:
        if col.name not in columns:
            continue
        value = sql.SQL("(line::jsonb ->> {})").format(sql.Literal(col.name))
        condition = sql.SQL("not {}").format(is_valid_sql(col, value))
        if col.name in not_null:
            condition = sql.SQL("{v} is null or {c}").format(v=value, c=condition)
        row = conn.execute(
            sql.SQL("select {rn}, {v} from {t} where {c} order by {rn} limit 1").format(
                rn=sql.Identifier(ROW_NUMBER), v=value, t=LINES_TABLE, c=condition
            )
        ).fetchone()
        if row:
            problem = "missing value" if row[1] is None else f"invalid {col.type} {row[1]!r}"
            return f"line {row[0]}, column {col.name}: {problem}"
    return None


def _move_to_raw(conn: psycopg.Connection, feed: Feed, columns: list[str], load_id: int) -> LoadStats:
    known = [c for c in feed.columns if c.name in columns]
    extras = [c for c in columns if c not in {k.name for k in known}]
    extra_expr = (
        sql.SQL("jsonb_strip_nulls(to_jsonb(l) - {}::text[])").format(
            sql.Literal([*(k.name for k in known), ROW_NUMBER])
        )
        if extras
        else sql.SQL("null")
    )
    target = sql.Identifier(RAW_SCHEMA, feed.raw_table)
    conn.execute(
        sql.SQL(
            "insert into {target} ({cols}, _extra, _row_number) select {src}, {extra}, l.{rn} from {load} as l"
        ).format(
            target=target,
            cols=sql.SQL(", ").join(sql.Identifier(k.name) for k in known),
            src=sql.SQL(", ").join(
                sql.SQL("l.{}::{}").format(sql.Identifier(k.name), sql.SQL(k.type)) for k in known
            ),
            extra=extra_expr,
            rn=sql.Identifier(ROW_NUMBER),
            load=LOAD_TABLE,
        )
    )
    return _stats(conn, feed, LOAD_TABLE, sql.SQL("true"), cast=True)


# --- shared ---------------------------------------------------------------------------------


def _check_path_scope(
    conn: psycopg.Connection,
    item: LandingFile,
    feed: Feed,
    table: sql.Composable,
    where: sql.Composable,
    row_col: str,
) -> None:
    """Channel files carry their channel in the path; a row for another channel is a misdelivery."""
    if not feed.path_scope or item.channel_id is None:
        return
    row = conn.execute(
        sql.SQL(
            "select {rn}, {col} from {t} where {w} and {col} is distinct from %s order by {rn} limit 1"
        ).format(rn=sql.Identifier(row_col), col=sql.Identifier(feed.path_scope), t=table, w=where),
        (item.channel_id,),
    ).fetchone()
    if row:
        raise Quarantine(
            f"row {row[0]}: {feed.path_scope} {row[1]!r} does not match the folder's channel {item.channel_id!r}"
        )


def _stats(
    conn: psycopg.Connection, feed: Feed, table: sql.Composable, where: sql.Composable, cast: bool = False
) -> LoadStats:
    ts = sql.Identifier(feed.time_column)
    if cast:
        ts = sql.SQL("{}::timestamptz").format(ts)
    row = conn.execute(
        sql.SQL("select count(*), min({ts}), max({ts}) from {t} where {w}").format(ts=ts, t=table, w=where)
    ).fetchone()
    assert row is not None
    return LoadStats(int(row[0]), row[1], row[2])


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
    if isinstance(error, psycopg.errors.NotNullViolation) and error.diag.column_name:
        message = f"missing value in required column {error.diag.column_name}"
    elif isinstance(error, psycopg.errors.CheckViolation) and error.diag.constraint_name:
        message = f"column {error.diag.constraint_name}"  # constraints are named "<column>: <rule>"
    found = _CONTEXT.search(error.diag.context or "")
    if found and item.file_format == "csv":
        where = f"line {found['line']}"
        if found["column"]:
            where += f", column {found['column']}"
        return f"{where}: {message}"
    return message
