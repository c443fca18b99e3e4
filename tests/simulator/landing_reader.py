"""Reads a landing zone back, independently of the simulator: stdlib csv/json and pyarrow only.

Every value is checked against the feed registry while it is read (header = registry columns,
required columns present, not-null columns filled, values castable to the registry type), so a
file that reads without an exception is a file the loader can load.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.lib.feeds import FEEDS_BY_ID, Feed, get_feed

INTEGER = re.compile(r"^-?\d+$")


class MalformedFile(ValueError):
    """The file would be quarantined: the message says why."""


@dataclass
class FeedFile:
    relative: str
    feed: Feed
    channel_id: str | None
    rows: list[dict[str, Any]]
    digest: str


def feed_of(relative: str) -> tuple[Feed, str | None]:
    parts = relative.split("/")
    if parts[0] == "channel":
        if len(parts) != 4:
            raise MalformedFile(f"{relative}: channel files live at channel/<id>/<feed>/<file>")
        feed = get_feed("channel", parts[2])
        channel_id: str | None = parts[1]
    else:
        if len(parts) != 3:
            raise MalformedFile(f"{relative}: files live at <source>/<feed>/<file>")
        feed = get_feed(parts[0], parts[1])
        channel_id = None
    if feed is None:
        raise MalformedFile(f"{relative}: unknown feed")
    return feed, channel_id


def _integer(raw: Any) -> int:
    if isinstance(raw, bool) or not (isinstance(raw, int) or (isinstance(raw, str) and INTEGER.match(raw))):
        raise ValueError(raw)
    return int(raw)


def _numeric(raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError(raw)
    return Decimal(str(raw))


def _boolean(raw: Any) -> bool:
    if raw in (True, "true"):
        return True
    if raw in (False, "false"):
        return False
    raise ValueError(raw)


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(raw)
    return raw


CASTS = {
    "integer": _integer,
    "numeric": _numeric,
    "boolean": _boolean,
    "text": _text,
    "date": lambda raw: date.fromisoformat(raw),
    "timestamptz": lambda raw: _timestamp(raw),
}


@cache
def _casters(feed_id: str) -> dict[str, tuple[Any, str, bool]]:
    feed = FEEDS_BY_ID[feed_id]
    not_null = set(feed.not_null_columns)
    return {c.name: (CASTS[c.type], c.type, c.name in not_null) for c in feed.columns}


def parse_value(feed: Feed, name: str, raw: Any) -> Any:
    """Cast one text (or JSON) value to its registry type; None for an empty value."""
    cast, type_name, not_null = _casters(feed.feed_id)[name]
    if raw is None or raw == "":
        if not_null:
            raise MalformedFile(f"{feed.feed_id}.{name} is empty")
        return None
    try:
        return cast(raw)
    except (ValueError, InvalidOperation, TypeError) as exc:
        raise MalformedFile(f"{feed.feed_id}.{name}: unparseable {type_name} value {raw!r}") from exc


@lru_cache(maxsize=200_000)
def _timestamp(raw: str) -> datetime:
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        raise ValueError(f"{raw} has no offset")
    return parsed


def _check_header(feed: Feed, header: list[str]) -> None:
    missing = [c for c in feed.required_columns if c not in header]
    if missing:
        raise MalformedFile(f"{feed.feed_id}: missing required columns {missing}")
    if header != [c.name for c in feed.columns]:
        raise MalformedFile(f"{feed.feed_id}: header {header} is not the registry's column list")


def _rows_from_text(feed: Feed, text: str) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    _check_header(feed, header)
    rows = []
    for record in reader:
        if len(record) != len(header):
            raise MalformedFile(f"{feed.feed_id}: row with {len(record)} values for {len(header)} columns")
        rows.append({name: parse_value(feed, name, raw) for name, raw in zip(header, record, strict=True)})
    return rows


def _rows_from_jsonl(feed: Feed, text: str) -> list[dict[str, Any]]:
    rows = []
    for line in text.splitlines():
        obj = json.loads(line)
        _check_header(feed, list(obj))
        rows.append({name: parse_value(feed, name, raw) for name, raw in obj.items()})
    return rows


PARQUET_TYPES = {
    "text": pa.types.is_string,
    "integer": pa.types.is_integer,
    "numeric": pa.types.is_decimal,
    "boolean": pa.types.is_boolean,
    "date": pa.types.is_date,
    "timestamptz": lambda t: pa.types.is_timestamp(t) and t.tz is not None,
}


def _rows_from_parquet(feed: Feed, data: bytes) -> list[dict[str, Any]]:
    table = pq.read_table(io.BytesIO(data))
    _check_header(feed, table.column_names)
    for col in feed.columns:
        if not PARQUET_TYPES[col.type](table.schema.field(col.name).type):
            raise MalformedFile(
                f"{feed.feed_id}.{col.name}: parquet type {table.schema.field(col.name).type}"
            )
    rows = table.to_pylist()
    for row in rows:
        for name in feed.not_null_columns:
            if row[name] is None:
                raise MalformedFile(f"{feed.feed_id}.{name} is null")
    return rows


def read_file(root: Path, relative: str) -> FeedFile:
    """Read and check one file (cached: landing files are immutable)."""
    return _read_file(root.resolve(), relative)


@cache
def _read_file(root: Path, relative: str) -> FeedFile:
    feed, channel_id = feed_of(relative)
    data = (root / relative).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    name = relative.rsplit("/", 1)[1]
    try:
        data_plain = gzip.decompress(data) if name.endswith(".gz") else data
    except (EOFError, OSError) as exc:
        raise MalformedFile(f"{relative}: broken gzip ({exc})") from exc
    if name.endswith(".parquet"):
        rows = _rows_from_parquet(feed, data_plain)
    else:
        try:
            text = data_plain.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedFile(f"{relative}: not UTF-8 ({exc})") from exc
        if name.endswith((".csv", ".csv.gz")):
            rows = _rows_from_text(feed, text)
        elif name.endswith((".jsonl", ".jsonl.gz")):
            rows = _rows_from_jsonl(feed, text)
        else:
            raise MalformedFile(f"{relative}: unknown file format")
    return FeedFile(relative, feed, channel_id, rows, digest)


def landing_files(root: Path) -> list[str]:
    """Published files, sorted: like the loader, skip in-flight names and dot folders."""
    out = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        in_flight = path.name.endswith(".tmp") or any(part.startswith(".") for part in relative.parts)
        if path.is_file() and not in_flight:
            out.append(relative.as_posix())
    return sorted(out)
