"""Exactly-once bulk loading of landing-zone files into `raw.<source>__<feed>`.

Each file loads in one transaction: its ledger row and all of its rows, or nothing (how the
bytes get in is raw_copy's business). The ledger decides "exactly once": a file is known by its
path, size and mtime (so it is hashed once), and loaded by the SHA-256 of its bytes (so the same
bytes under another name load once). A file that fails for a reason of its own (missing column,
bad value, bad encoding, unknown feed) is quarantined in the ledger with that reason and never
blocks the others; a database failure aborts the run with nothing half-done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from orchestration.lib.file_formats import Quarantine
from orchestration.lib.landing import LandingFile, scan, sha256_of
from orchestration.lib.raw_copy import copy_into_raw, prepare_session
from orchestration.lib.raw_schema import LEDGER_TABLE, META_SCHEMA, ensure_warehouse

LEDGER = sql.Identifier(META_SCHEMA, LEDGER_TABLE)


@dataclass
class FileOutcome:
    relative: str
    feed: str | None
    status: str  # loaded | duplicate | quarantined | already_processed
    rows: int = 0
    reason: str | None = None
    load_id: int | None = None
    seconds: float = 0.0


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(o.rows for o in self.outcomes if o.status == "loaded")

    def rows_by_feed(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for o in self.outcomes:
            if o.status == "loaded" and o.feed:
                totals[o.feed] = totals.get(o.feed, 0) + o.rows
        return totals

    def summary(self) -> str:
        return (
            f"{self.count('loaded')} loaded ({self.rows_loaded} rows), {self.count('duplicate')} duplicate, "
            f"{self.count('quarantined')} quarantined, {self.count('already_processed')} already processed"
        )


def pending_files(
    conn: psycopg.Connection,
    landing_dir: Path,
    *,
    sources: tuple[str, ...] | None = None,
    feed_ids: Collection[str] | None = None,
    include_unrouted: bool = True,
) -> list[LandingFile]:
    """Files not yet in the ledger under their current (path, size, mtime)."""
    candidates = [
        f
        for f in scan(landing_dir, sources)
        if (f.feed_id in feed_ids if feed_ids is not None and f.feed else True)
        and (include_unrouted or f.feed is not None)
    ]
    if not candidates:
        return []
    rows = conn.execute(
        sql.SQL("select file_path, size_bytes, mtime_ns from {} where file_path = any(%s)").format(LEDGER),
        ([f.relative for f in candidates],),
    ).fetchall()
    conn.commit()
    seen = {(r[0], r[1], r[2]) for r in rows}
    return [f for f in candidates if (f.relative, f.size_bytes, f.mtime_ns) not in seen]


def ingest(
    url: str,
    landing_dir: Path,
    *,
    sources: tuple[str, ...] | None = None,
    feed_ids: Collection[str] | None = None,
    include_unrouted: bool = True,
    on_file: Callable[[FileOutcome, int, int], None] | None = None,
) -> IngestReport:
    """Load every pending file (optionally of some sources/feeds only); returns what happened to each."""
    report = IngestReport()
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
        prepare_session(conn)
        files = pending_files(
            conn, landing_dir, sources=sources, feed_ids=feed_ids, include_unrouted=include_unrouted
        )
        for index, item in enumerate(files, start=1):
            outcome = load_file(conn, item)
            report.outcomes.append(outcome)
            if on_file:
                on_file(outcome, index, len(files))
    return report


def load_file(conn: psycopg.Connection, item: LandingFile) -> FileOutcome:
    started = time.monotonic()
    discovered_at = datetime.now(UTC)
    file_hash = sha256_of(item.path)
    try:
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (file_hash,))
            done = _already_processed(conn, item, file_hash)
            if done:
                return done
            if item.problem:
                raise Quarantine(item.problem)
            assert item.feed is not None
            original = conn.execute(
                sql.SQL(
                    "select load_id from {} where file_hash = %s and feed = %s and status = 'loaded'"
                ).format(LEDGER),
                (file_hash, item.feed_id),
            ).fetchone()
            if original:
                load_id = _insert_ledger(
                    conn, item, file_hash, discovered_at, "duplicate", duplicate_of=original[0]
                )
                return FileOutcome(
                    item.relative,
                    item.feed_id,
                    "duplicate",
                    load_id=load_id,
                    reason=f"same bytes as load {original[0]}",
                    seconds=time.monotonic() - started,
                )
            load_id = _insert_ledger(conn, item, file_hash, discovered_at, "loaded")
            stats = copy_into_raw(conn, item, item.feed, load_id, file_hash)
            elapsed = time.monotonic() - started
            conn.execute(
                sql.SQL(
                    "update {} set rows_loaded = %s, min_data_ts = %s, max_data_ts = %s, load_seconds = %s,"
                    " loaded_at = clock_timestamp() where load_id = %s"
                ).format(LEDGER),
                (stats.rows, stats.min_data_ts, stats.max_data_ts, elapsed, load_id),
            )
            return FileOutcome(
                item.relative, item.feed_id, "loaded", rows=stats.rows, load_id=load_id, seconds=elapsed
            )
    except Quarantine as problem:
        reason = f"{item.relative}: {problem}"
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended(%s, 0))", (file_hash,))
        done = _already_processed(conn, item, file_hash)
        if done:
            return done
        load_id = _insert_ledger(conn, item, file_hash, discovered_at, "quarantined", reason=reason)
    return FileOutcome(
        item.relative,
        item.feed_id,
        "quarantined",
        reason=reason,
        load_id=load_id,
        seconds=time.monotonic() - started,
    )


def _already_processed(conn: psycopg.Connection, item: LandingFile, file_hash: str) -> FileOutcome | None:
    """A file another run handled meanwhile, or the same bytes touched in place: mark seen, do nothing."""
    row = conn.execute(
        sql.SQL(
            "update {} set size_bytes = %s, mtime_ns = %s where file_path = %s and file_hash = %s"
            " returning load_id, status"
        ).format(LEDGER),
        (item.size_bytes, item.mtime_ns, item.relative, file_hash),
    ).fetchone()
    if row is None:
        return None
    return FileOutcome(item.relative, item.feed_id, "already_processed", load_id=row[0], reason=row[1])


def _insert_ledger(
    conn: psycopg.Connection,
    item: LandingFile,
    file_hash: str,
    discovered_at: datetime,
    status: str,
    *,
    reason: str | None = None,
    duplicate_of: int | None = None,
) -> int:
    row = conn.execute(
        sql.SQL(
            "insert into {} (file_path, file_hash, size_bytes, mtime_ns, source, feed, channel_id, file_format,"
            " status, reason, duplicate_of, discovered_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " returning load_id"
        ).format(LEDGER),
        (
            item.relative,
            file_hash,
            item.size_bytes,
            item.mtime_ns,
            item.source,
            item.feed_id,
            item.channel_id,
            item.file_format,
            status,
            reason,
            duplicate_of,
            discovered_at,
        ),
    ).fetchone()
    assert row is not None
    return row[0]
