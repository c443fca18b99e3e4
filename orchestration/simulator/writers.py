"""Landing-zone files: registry-shaped tables, encoders per format, atomic streaming writes.

Every file is written to `.<name>.tmp` in its target folder and renamed into place, so a loader
never sees half a file. Encoders are deterministic (gzip header without name or mtime, fixed
parquet settings), so the same table always gives the same bytes.
"""

from __future__ import annotations

import filecmp
import io
import json
import os
import threading
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from orchestration.lib.feeds import Feed
from orchestration.simulator.clock import TimestampFormatter

FORMATS = ("csv", "csv.gz", "jsonl", "jsonl.gz", "parquet")
GZIP_LEVEL = 3
MAX_PENDING_WRITES = 16
# Columns holding a location id or a sku: buffers keep them as integer indices until written.
LOCATION_COLUMNS = ("location_id", "from_location_id", "to_location_id")

# Registry type -> arrow type of the table handed to the text encoders (CSV, JSON lines).
# Timestamps, dates and numerics travel as pre-formatted strings so their text is exact.
TEXT_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "integer": pa.int64(),
    "numeric": pa.string(),
    "boolean": pa.bool_(),
    "timestamptz": pa.string(),
    "date": pa.string(),
}


def extension(fmt: str) -> str:
    return "." + fmt


def cents_to_text(cents: np.ndarray | list[int]) -> list[str]:
    """Money in cents as exact decimal text ('12.05', '-0.50')."""
    out = []
    for value in np.asarray(cents, dtype=np.int64).tolist():
        sign = "-" if value < 0 else ""
        value = abs(value)
        out.append(f"{sign}{value // 100}.{value % 100:02d}")
    return out


class TableBuilder:
    """Builds a table with exactly the registry's columns, in its order, from simulator values."""

    def __init__(self, loc_ids: np.ndarray, sku_ids: np.ndarray, formatter: TimestampFormatter) -> None:
        self._locations = pa.array(loc_ids)
        self._skus = pa.array(sku_ids)
        self.formatter = formatter

    def column(self, feed: Feed, name: str, value: Any, n_rows: int) -> pa.Array:
        col = feed.column(name)
        arrow_type = TEXT_TYPES[col.type]
        if value is None:
            return pa.nulls(n_rows, arrow_type)
        if isinstance(value, pa.Array):
            return value if value.type == arrow_type else value.cast(arrow_type)
        if np.isscalar(value):
            return pa.repeat(pa.scalar(value, arrow_type), n_rows)
        if isinstance(value, np.ndarray) and value.dtype.kind in "iu":
            if col.type == "text" and name in LOCATION_COLUMNS:
                return self._locations.take(pa.array(value))
            if col.type == "text" and name == "sku":
                return self._skus.take(pa.array(value))
            if col.type == "timestamptz":
                return self.formatter.format(value)
            return pa.array(value.astype(np.int64), pa.int64())
        return pa.array(value if isinstance(value, list) else list(value), arrow_type)

    def table(self, feed: Feed, values: Mapping[str, Any]) -> pa.Table:
        unknown = set(values) - {c.name for c in feed.columns}
        if unknown:
            raise KeyError(f"{feed.feed_id} has no columns {sorted(unknown)}")
        n_rows = next((len(v) for v in values.values() if v is not None and not np.isscalar(v)), None)
        if n_rows is None:
            raise ValueError(f"{feed.feed_id}: cannot tell the row count from scalars only")
        arrays = []
        for col in feed.columns:
            if col.required and col.name not in values:
                raise KeyError(f"{feed.feed_id}: required column {col.name} missing")
            arrays.append(self.column(feed, col.name, values.get(col.name), n_rows))
        return pa.table(arrays, names=[c.name for c in feed.columns])


# --- encoders --------------------------------------------------------------------------------


def encode_csv(table: pa.Table, *, header: bool = True) -> bytes:
    """UTF-8 CSV with an unquoted header; values are quoted only when some value needs it."""
    head = (",".join(table.column_names) + "\n").encode() if header else b""
    if not table.num_rows:
        return head
    buf = io.BytesIO()
    try:
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:  # a value holds a comma or a quote: quote the strings
        buf = io.BytesIO()
        pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    return head + buf.getvalue()


def encode_jsonl(table: pa.Table) -> bytes:
    lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in table.to_pylist()]
    return ("\n".join(lines) + "\n").encode() if lines else b""


class GzipStream:
    """Deterministic gzip stream (zlib's gzip wrapper writes mtime 0 and no file name)."""

    def __init__(self) -> None:
        self._z = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data)

    def flush(self) -> bytes:
        return self._z.flush()


def gzip_bytes(data: bytes) -> bytes:
    z = GzipStream()
    return z.compress(data) + z.flush()


def encode_parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def encode(table: pa.Table, fmt: str) -> bytes:
    if fmt == "csv":
        return encode_csv(table)
    if fmt == "csv.gz":
        return gzip_bytes(encode_csv(table))
    if fmt == "jsonl":
        return encode_jsonl(table)
    if fmt == "jsonl.gz":
        return gzip_bytes(encode_jsonl(table))
    if fmt == "parquet":
        return encode_parquet(table)
    raise ValueError(f"unknown format {fmt}")


# --- files -----------------------------------------------------------------------------------

# A variant is an extra delivery derived from a file: (file name, table, bytes) -> bytes to write.
Variant = tuple[str, Callable[[pa.Table, bytes], bytes]]


@dataclass
class WriteStats:
    files: int = 0
    bytes: int = 0
    rows_per_feed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    files_per_feed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_per_feed: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class LandingWriter:
    """Writes feed files under the landing root, optionally from one background thread."""

    def __init__(self, root: Path, *, background: bool = True) -> None:
        self.root = root
        self.stats = WriteStats()
        self._lock = threading.Lock()
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="omni-sim-writer") if background else None
        )
        self._pending: deque[Future[None]] = deque()
        self._failed = False

    def relative(self, feed: Feed, file_name: str, channel_id: str | None = None) -> str:
        if feed.path_scope:
            if not channel_id:
                raise ValueError(f"{feed.feed_id} files need a channel id")
            return f"{feed.source}/{channel_id}/{feed.name}/{file_name}"
        return f"{feed.source}/{feed.name}/{file_name}"

    def _record(self, feed: Feed, rows: int, size: int) -> None:
        with self._lock:
            self.stats.files += 1
            self.stats.bytes += size
            self.stats.rows_per_feed[feed.feed_id] += rows
            self.stats.files_per_feed[feed.feed_id] += 1
            self.stats.bytes_per_feed[feed.feed_id] += size

    def _put(self, relative: str, payload: bytes) -> None:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(payload)
        try:
            publish(tmp, target)
        except FileExistsError:
            self._failed = True
            raise

    def _run(self, job: Callable[[], None]) -> None:
        if self._pool is None:
            job()
            return
        while len(self._pending) >= MAX_PENDING_WRITES:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(job))

    def write(
        self,
        feed: Feed,
        file_name: str,
        table: pa.Table,
        fmt: str,
        channel_id: str | None = None,
        variants: list[Variant] | None = None,
        *,
        count_rows: bool = True,
    ) -> str:
        """Encode and publish one file (plus its fault variants); returns its landing-relative path."""
        relative = self.relative(feed, file_name, channel_id)
        folder = relative.rsplit("/", 1)[0]

        def job() -> None:
            if self._failed:  # after a refused write, publish nothing more
                return
            payload = encode(table, fmt)
            self._put(relative, payload)
            self._record(feed, table.num_rows if count_rows else 0, len(payload))
            for variant_name, make in variants or ():
                extra = make(table, payload)
                self._put(f"{folder}/{variant_name}", extra)
                self._record(feed, 0, len(extra))

        self._run(job)
        return relative

    def stream(self, feed: Feed, file_name: str, fmt: str, channel_id: str | None = None) -> SnapshotStream:
        self.drain()  # a refused earlier write surfaces here, before anything more is published
        return SnapshotStream(self, feed, self.relative(feed, file_name, channel_id), fmt)

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown()


def publish(tmp: Path, target: Path) -> None:
    """Rename into place; an existing file is immutable, so only identical bytes may meet it."""
    if target.exists():
        same = filecmp.cmp(tmp, target, shallow=False)
        tmp.unlink()
        if not same:
            raise FileExistsError(
                f"{target} already exists with different content; landing files are immutable "
                "(simulate into an empty landing zone, or another --start/--seed period)"
            )
        return
    os.replace(tmp, target)


class SnapshotStream:
    """A large snapshot written batch by batch (never whole in memory), published on close."""

    def __init__(self, writer: LandingWriter, feed: Feed, relative: str, fmt: str) -> None:
        self.writer, self.feed, self.relative, self.fmt = writer, feed, relative, fmt
        self.target = writer.root / relative
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.target.with_name(f".{self.target.name}.tmp")
        self._file = open(self.tmp, "wb")  # noqa: SIM115 (closed in close())
        self._gzip = GzipStream() if fmt.endswith(".gz") else None
        self._parquet: pq.ParquetWriter | None = None
        self._header_done = False
        self.rows = 0

    def _emit(self, data: bytes) -> None:
        self._file.write(self._gzip.compress(data) if self._gzip else data)

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self.fmt == "parquet":
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._file, table.schema, compression="zstd")
            self._parquet.write_table(table)
        elif self.fmt.startswith("csv"):
            self._emit(encode_csv(table, header=not self._header_done))
            self._header_done = True
        else:
            self._emit(encode_jsonl(table))

    def close(self) -> str:
        if self._parquet is not None:
            self._parquet.close()
        if self._gzip:
            self._file.write(self._gzip.flush())
        self._file.close()
        size = self.tmp.stat().st_size
        try:
            publish(self.tmp, self.target)
        except FileExistsError:
            self.writer._failed = True
            raise
        self.writer._record(self.feed, self.rows, size)
        return self.relative

    def __enter__(self) -> SnapshotStream:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()
            self.tmp.unlink(missing_ok=True)
