"""Writing small landing files for tests, with values generated from the feed registry."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from orchestration.lib.feeds import Column, Feed

BASE_TS = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def sample_value(col: Column, row: int) -> object:
    if col.allowed:
        return col.allowed[row % len(col.allowed)]
    match col.type:
        case "integer":
            return row + 1
        case "numeric":
            return round(1.25 + row, 2)
        case "boolean":
            return row % 2 == 0
        case "timestamptz":
            return (BASE_TS + timedelta(minutes=row)).isoformat().replace("+00:00", "Z")
        case "date":
            return (date(2026, 11, 1) + timedelta(days=row)).isoformat()
        case _:
            return f"{col.name}_{row}"


def sample_rows(feed: Feed, count: int, **fixed: object) -> list[dict[str, object]]:
    return [
        {col.name: fixed.get(col.name, sample_value(col, i)) for col in feed.columns} for i in range(count)
    ]


def feed_dir(landing: Path, feed: Feed, channel_id: str = "web") -> Path:
    parts = [feed.source, channel_id, feed.name] if feed.path_scope else [feed.source, feed.name]
    path = landing.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def csv_text(rows: list[dict[str, object]], columns: Iterable[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in row.items()})
    return buffer.getvalue()


def write_rows(
    directory: Path, name: str, rows: list[dict[str, object]], columns: Iterable[str] | None = None
) -> Path:
    """Write rows in the format the file name asks for (.csv, .jsonl, .parquet, optionally .gz)."""
    path = directory / name
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
        return path
    if ".jsonl" in name:
        data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    else:
        data = csv_text(rows, columns).encode()
    path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
    return path
