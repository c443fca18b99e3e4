"""Exactly-once bulk loading of landing-zone files into `raw.<source>__<feed>`.

The ledger decides "exactly once": a file is known by its path, size and mtime (so it is hashed
once), and loaded by the SHA-256 of its bytes (so the same bytes under another name load once).
A file's ledger row and all of its rows commit together or not at all (how the bytes get in is
raw_copy's business). A file that fails for a reason of its own (missing column, bad value, bad
encoding, unknown feed) is quarantined in the ledger with that reason and never blocks the
others; a database failure aborts the run with nothing half-done.

Files load in batches: up to BATCH_FILES files (or BATCH_BYTES, or BATCH_SECONDS) share one
transaction, each inside its own savepoint, so a bad file is rolled back and quarantined alone
while the batch goes on. What makes many small files cheap: one commit (one WAL flush) per batch
instead of per file, and few round trips per file. Before its COPY a file costs one round trip
(the locks, then one prepared lookup of what the ledger knows, which also draws the load id and
sets the session up for the COPY); its ledger row, written once its outcome is known, waits and
goes with the next file's statements. A crash or a database failure loses at most the batch in
progress: none of its files is in the ledger, so the next run loads them. A file's outcome is
reported (on_file, the IngestReport) once its batch has committed.

Concurrent runs (a sensor's run and a manual one) are serialised per file by an advisory lock
on its hash, and per raw table by the feed's lock, both held to the end of the transaction. A
batch never waits for a lock while it holds others: past its first file it only tries them,
and when another run holds one it commits what it has, then waits in a fresh transaction. So
two runs cannot deadlock on each other's batches.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import psycopg
from psycopg import sql

from orchestration.lib.feeds import Feed
from orchestration.lib.file_formats import Quarantine
from orchestration.lib.landing import (
    LandingFile,
    LandingScan,
    UnsupportedEntry,
    UnsupportedFile,
    display_path,
    scan_landing,
    sha256_of,
)
from orchestration.lib.raw_copy import (
    FILE_SAVEPOINT,
    LoadStats,
    LoadTarget,
    check_max_clock_skew,
    copy_into_raw,
    feed_lock_key,
    prepare_session,
    start_load_sql,
)
from orchestration.lib.raw_schema import LEDGER_TABLE, META_SCHEMA, UNSUPPORTED_FILES_TABLE, ensure_warehouse
from orchestration.lib.sql_text import Prepared, Template

LEDGER = sql.Identifier(META_SCHEMA, LEDGER_TABLE)
UNSUPPORTED = sql.Identifier(META_SCHEMA, UNSUPPORTED_FILES_TABLE)
# The hash recorded for a file that cannot be read (permissions): it is quarantined with the reason.
UNREADABLE_HASH = "unreadable"
# The sequence of the ledger's identity column, by the name PostgreSQL gives it: the lookup draws
# a file's load id from it before the row is written (pg_get_serial_sequence costs a catalog scan).
LEDGER_IDS = f"{META_SCHEMA}.{LEDGER_TABLE}_load_id_seq"
# A batch commits after this many files: each loaded file's savepoint keeps a subtransaction id
# to the end of the transaction, and past 64 of them PostgreSQL's snapshots of every session
# get slower (subtransaction cache overflow).
BATCH_FILES = 32
# ... or once its files reach this size or it has run this long, which bounds what a crash
# makes the next run redo and how long other runs may wait for the batch's locks.
BATCH_BYTES = 64 << 20
BATCH_SECONDS = 2.0
# Sessions loading at once, each its own feeds: one per core (see _load_in_parallel).
LOAD_WORKERS = max(1, min(os.cpu_count() or 1, 4))


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
    landing_dir: Path | None = None  # the folder scanned
    unsupported: list[UnsupportedEntry] = field(default_factory=list)  # not regular files: never read

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
        scanned = f"{display_path(str(self.landing_dir))}: " if self.landing_dir else ""
        unsupported = f", {len(self.unsupported)} unsupported (not regular files)" if self.unsupported else ""
        return (
            f"{scanned}{self.count('loaded')} loaded ({self.rows_loaded} rows), {self.count('duplicate')} duplicate, "
            f"{self.count('quarantined')} quarantined, {self.count('already_processed')} already processed"
            f"{unsupported}"
        )


def pending_files(
    conn: psycopg.Connection,
    landing_dir: Path,
    *,
    sources: tuple[str, ...] | None = None,
    feed_ids: Collection[str] | None = None,
    include_unrouted: bool = True,
    found: LandingScan | None = None,
) -> list[LandingFile]:
    """Files not yet in the ledger under their current (path, size, mtime); `found`: the scan
    to use, else the landing dir is scanned (LandingDirMissing when it does not exist)."""
    found = found or scan_landing(landing_dir, sources)
    candidates = [
        f
        for f in found.files
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
    """Load every pending file (optionally of some sources/feeds only); returns what happened to each.

    Raises LandingDirMissing when the landing dir does not exist (a mistyped OMNI_LANDING_DIR
    must not look like an empty landing zone), ValueError for an OMNI_MAX_CLOCK_SKEW that is not
    a duration.
    """
    report = IngestReport(landing_dir=landing_dir)
    # psycopg's own prepared statements off: the loader prepares its statements itself (sql_text)
    with psycopg.connect(url, prepare_threshold=None) as conn:
        ensure_warehouse(conn)
        skew = check_max_clock_skew(conn)
        prepare_session(conn, skew)
        found = scan_landing(landing_dir, sources)
        report.unsupported = found.unsupported
        record_unsupported(conn, found)
        files = pending_files(
            conn,
            landing_dir,
            sources=sources,
            feed_ids=feed_ids,
            include_unrouted=include_unrouted,
            found=found,
        )
        progress = _Progress(report, on_file, len(files))
        groups = _feed_groups(files)
        if min(LOAD_WORKERS, len(groups)) > 1:
            _load_in_parallel(url, conn, groups, progress)
        else:
            batch = _Batch(conn, progress.add)
            for item in files:
                batch.load(item)
            batch.commit()
    return report


def record_unsupported(conn: psycopg.Connection, found: LandingScan) -> None:
    """meta.unsupported_files: the entries of the scanned folders that are not regular files.

    By path and kind only (their content is never read). Entries gone from a scanned folder are
    removed, so their UNSUPPORTED_FILE finding resolves; a row seen again is not rewritten.
    """
    whole = "" in found.tops
    conn.execute(
        sql.SQL(
            "delete from {t} where (%(whole)s or split_part(file_path, '/', 1) = any(%(tops)s))"
            " and file_path <> all(%(paths)s)"
        ).format(t=UNSUPPORTED),
        {"whole": whole, "tops": found.tops, "paths": [e.relative for e in found.unsupported]},
    )
    if found.unsupported:
        with conn.cursor() as cursor:
            cursor.executemany(
                sql.SQL(
                    "insert into {t} as u (file_path, file_kind, source, feed) values (%s, %s, %s, %s)"
                    " on conflict (file_path) do update set file_kind = excluded.file_kind, last_seen_at = now()"
                    " where u.file_kind is distinct from excluded.file_kind"
                ).format(t=UNSUPPORTED),
                [(e.relative, e.kind, e.source, e.feed_id) for e in found.unsupported],
            )
    conn.commit()


class _Progress:
    """Outcomes of committed batches, in the order they are reported (one thread reports)."""

    def __init__(
        self, report: IngestReport, on_file: Callable[[FileOutcome, int, int], None] | None, total: int
    ) -> None:
        self.report, self.on_file, self.total = report, on_file, total

    def add(self, outcomes: list[FileOutcome]) -> None:
        for outcome in outcomes:
            self.report.outcomes.append(outcome)
            if self.on_file:
                self.on_file(outcome, len(self.report.outcomes), self.total)


def _feed_groups(files: list[LandingFile]) -> list[list[LandingFile]]:
    """The files by feed (files of no feed together), the feed with the most bytes first."""
    groups: dict[str | None, list[LandingFile]] = {}
    for item in files:
        groups.setdefault(item.feed_id, []).append(item)
    return sorted(groups.values(), key=lambda group: -sum(item.size_bytes for item in group))


def _load_in_parallel(
    url: str, conn: psycopg.Connection, groups: list[list[LandingFile]], progress: _Progress
) -> None:
    """Load the feeds in LOAD_WORKERS sessions at once, each feed in one of them, in file order.

    A session's server process is what limits a load (the client mostly waits for it), so on a
    machine of two cores two sessions load the day in about 60 % of the time of one. Loads into
    different raw tables share nothing but the ledger, whose rows each session writes for its own
    files: the batches lock as two runs' batches do (see the module doc). Only this thread
    reports progress. A worker's failure stops the others after their current file, their
    uncommitted batches lost (loaded again next time), and is raised here.
    """
    pending: queue.SimpleQueue[list[LandingFile]] = queue.SimpleQueue()
    for group in groups:
        pending.put(group)
    reports: queue.SimpleQueue[list[FileOutcome] | BaseException | None] = queue.SimpleQueue()
    stop = threading.Event()

    def work(session: psycopg.Connection) -> None:
        failure: BaseException | None = None
        try:
            batch = _Batch(session, reports.put)
            while not stop.is_set():
                try:
                    group = pending.get_nowait()
                except queue.Empty:
                    batch.commit()
                    return
                for item in group:
                    if stop.is_set():
                        return  # the batch in progress rolls back with the session
                    batch.load(item)
        except BaseException as error:  # re-raised by the reporting thread
            failure = error
        finally:
            reports.put(failure)  # this worker is done

    sessions = [conn]
    try:
        for _ in range(min(LOAD_WORKERS, len(groups)) - 1):
            session = psycopg.connect(url, prepare_threshold=None)
            sessions.append(session)
            prepare_session(session)
        workers = [threading.Thread(target=work, args=(session,), daemon=True) for session in sessions]
        for worker in workers:
            worker.start()
        failure: BaseException | None = None
        running = len(workers)
        while running:
            reported = reports.get()
            if isinstance(reported, list):  # a batch committed: its files count, whatever follows
                progress.add(reported)
                continue
            running -= 1
            if reported is not None and failure is None:
                failure = reported
                stop.set()
        for worker in workers:
            worker.join()
        if failure is not None:
            raise failure
    finally:
        for session in sessions[1:]:
            session.close()


class _Batch:
    """The files loaded in the connection's current transaction; they count once it commits."""

    def __init__(self, conn: psycopg.Connection, committed: Callable[[list[FileOutcome]], None]) -> None:
        self.conn = conn
        self.committed = committed  # told the outcomes of each batch once it has committed
        self.outcomes: list[FileOutcome] = []
        self.size = 0
        self.started = 0.0
        # Statements whose answer nobody needs (a finished file's ledger row, a savepoint
        # release): they go with the next statement sent, saving a round trip each.
        self.deferred: list[str] = []
        self.prepared = Prepared(conn, "omni_loader")

    def load(self, item: LandingFile) -> None:
        try:
            file_hash = sha256_of(item.path)
        except UnsupportedFile:  # replaced by a symlink, FIFO, ... since the scan: the next scan lists it
            return
        except FileNotFoundError:  # renamed away since the scan
            return
        except OSError as error:  # e.g. no permission: quarantined, and not retried until it changes
            file_hash = UNREADABLE_HASH
            item = replace(item, problem=f"unreadable file: {error.strerror or error}")
        if not self.outcomes:
            self.started = time.monotonic()
        outcome = self._load(item, file_hash, wait=not self.outcomes)
        if outcome is None:  # another run holds the file or its feed: commit ours, then wait
            self.commit()
            self.started = time.monotonic()
            outcome = self._load(item, file_hash, wait=True)
            assert outcome is not None
        self.outcomes.append(outcome)
        self.size += item.size_bytes
        if (
            len(self.outcomes) >= BATCH_FILES
            or self.size >= BATCH_BYTES
            or time.monotonic() - self.started >= BATCH_SECONDS
        ):
            self.commit()

    def commit(self) -> None:
        if self.deferred:
            self.execute()
        self.conn.commit()
        if self.outcomes:
            self.committed(self.outcomes)
        self.outcomes = []
        self.size = 0

    def execute(self, *statements: str, result: int = 0) -> psycopg.Cursor:
        """Run the deferred statements and then `statements` in one round trip.

        The cursor is left on the result of statements[result].
        """
        skip = len(self.deferred) + result
        text = "; ".join([*self.deferred, *statements])
        self.deferred = []
        cursor = self.conn.execute(text)
        for _ in range(skip):
            cursor.nextset()
        return cursor

    def _load(self, item: LandingFile, file_hash: str, wait: bool) -> FileOutcome | None:
        """Load one file in the current transaction; None when `wait` is false and a lock is taken."""
        started = time.monotonic()
        discovered_at = datetime.now(UTC)
        feed_key = feed_lock_key(item.feed) if item.feed else None
        # The lookup is a statement of its own, after the locks: it must see what their previous
        # holders committed.
        locks = [
            lock.render(hash=file_hash, feed_key=feed_key)
            for lock in (_wait_for_locks if wait else _try_locks)(feed_key is not None)
        ]
        lookup = self.prepared.statements(
            _lookup(item.feed, item.file_format),
            path=item.relative,
            hash=file_hash,
            feed=item.feed_id,
            problem=item.problem,
        )
        cursor = self.execute(
            *locks, *lookup, f"savepoint {FILE_SAVEPOINT}", result=len(locks) + len(lookup) - 1
        )
        row = cursor.fetchone()
        # The savepoint is released with the next statement, or used to undo the file below.
        self.deferred.append(f"release savepoint {FILE_SAVEPOINT}")
        if row is None:
            return None
        load_id, seen_status, original, first_block = row[:4]
        if seen_status is not None:  # handled by another run meanwhile, or touched in place
            self._defer([_MARK_SEEN.render(size=item.size_bytes, mtime=item.mtime_ns, load_id=load_id)])
            return FileOutcome(
                item.relative, item.feed_id, "already_processed", load_id=load_id, reason=seen_status
            )
        outcome = FileOutcome(item.relative, item.feed_id, "loaded", load_id=load_id)
        stats = LoadStats(0)
        if item.problem:  # attributed to no feed
            outcome.status, outcome.reason = "quarantined", f"{item.relative}: {item.problem}"
        elif original is not None:
            outcome.status, outcome.reason = "duplicate", f"same bytes as load {original}"
        else:
            assert item.feed is not None
            try:
                target = LoadTarget(load_id, first_block)
                stats = copy_into_raw(self.conn, self.prepared, item, item.feed, target)
                outcome.rows = stats.rows
            except Quarantine as problem:
                outcome.status, outcome.reason = "quarantined", f"{item.relative}: {problem}"
                self.conn.execute(f"rollback to savepoint {FILE_SAVEPOINT}")
                stats = LoadStats(0)
        outcome.seconds = time.monotonic() - started
        loaded = outcome.status == "loaded"
        self._defer(
            self.prepared.statements(
                _insert(stats.figures),
                load_id=load_id,
                path=item.relative,
                hash=file_hash,
                size=item.size_bytes,
                mtime=item.mtime_ns,
                source=item.source,
                feed=item.feed_id,
                channel=item.channel_id,
                format=item.file_format,
                status=outcome.status,
                reason=outcome.reason if outcome.status == "quarantined" else None,
                duplicate_of=original if outcome.status == "duplicate" else None,
                discovered=discovered_at,
                seconds=outcome.seconds if loaded else None,
                rows=stats.rows,
                oldest=stats.min_data_ts,
                newest=stats.max_data_ts,
                first_block=f"({first_block},0)",
                first_page=stats.first_page if stats.first_page is not None else first_block,
            )
        )
        return outcome

    def _defer(self, statements: list[str]) -> None:
        """Queue a ledger write for the next round trip, ahead of the pending savepoint release."""
        self.deferred[-1:-1] = statements


# --- statements, composed once --------------------------------------------------------------

_HASH_KEY = sql.SQL("hashtextextended({}, 0)").format(sql.Placeholder("hash"))
_FEED_KEY = sql.SQL("hashtext({})").format(sql.Placeholder("feed_key"))
_MARK_SEEN = Template(
    sql.SQL("update {} set size_bytes = {}, mtime_ns = {} where load_id = {}").format(
        LEDGER, sql.Placeholder("size"), sql.Placeholder("mtime"), sql.Placeholder("load_id")
    )
)


@cache
def _wait_for_locks(feed: bool) -> list[Template]:
    """For the first file of a transaction, which holds no other lock and so may wait.

    The ledger's lock first, held to the commit although the ledger rows are written late:
    ensure_warehouse (another run starting) locks the ledger before the raw tables, so it waits
    for the batch instead of taking a raw table the batch still needs.
    """
    keys = [_HASH_KEY, _FEED_KEY] if feed else [_HASH_KEY]
    return [
        Template(sql.SQL("lock table {} in row exclusive mode").format(LEDGER)),
        Template(
            sql.SQL("select {}, set_config('omni.locked', 'true', true)").format(
                sql.SQL(", ").join(sql.SQL("pg_advisory_xact_lock({})").format(k) for k in keys)
            )
        ),
    ]


@cache
def _try_locks(feed: bool) -> list[Template]:
    """For the next files of a transaction: never wait while holding locks (see the module doc)."""
    keys = [_HASH_KEY, _FEED_KEY] if feed else [_HASH_KEY]
    return [
        Template(
            sql.SQL("select set_config('omni.locked', ({})::text, true)").format(
                sql.SQL(" and ").join(sql.SQL("pg_try_advisory_xact_lock({})").format(k) for k in keys)
            )
        )
    ]


@cache
def _lookup(feed: Feed | None, file_format: str | None) -> Template:
    """What the ledger knows of a file, and a load id for it; no row when the locks were not taken.

    One row: (load id: the ledger row's if the file is there under its path and hash, else a new
    one; that row's status; the load that loaded the same bytes for the feed; the raw table's page
    the load's rows will start at or after). A file to load also gets the session set up for it
    (start_load_sql).
    """
    to_load = sql.SQL("seen.load_id is null and original.load_id is null and {}::text is null").format(
        sql.Placeholder("problem")
    )
    start = (
        sql.SQL(", ").join(
            sql.SQL("case when {} then {} end").format(to_load, expression)
            for expression in start_load_sql(feed, file_format, sql.SQL("next.load_id"))
        )
        if feed
        else sql.SQL("null::bigint")
    )
    return Template(
        sql.SQL(
            "select coalesce(seen.load_id, next.load_id), seen.status, original.load_id, {start}"
            " from (select nextval({ledger_ids}::regclass) as load_id"
            " where current_setting('omni.locked')::boolean) as next"
            " left join {ledger} as seen on seen.file_path = {path} and seen.file_hash = {hash}"
            " cross join (select min(load_id) as load_id from {ledger} where file_hash = {hash} and feed = {feed}"
            " and status = 'loaded') as original"
        ).format(
            start=start,
            ledger_ids=sql.Literal(LEDGER_IDS),
            ledger=LEDGER,
            path=sql.Placeholder("path"),
            hash=sql.Placeholder("hash"),
            feed=sql.Placeholder("feed"),
        )
    )


# By the figures query's identity (Composables cannot be hashed); each entry keeps its query
# alive, so that no other object can take its id.
_INSERTS: dict[int, tuple[sql.Composable | None, Template]] = {}


def _insert(figures: sql.Composable | None) -> Template:
    """A file's ledger row, written once its outcome is known.

    Its figures (rows, oldest and newest data timestamp, the pages of its rows) come from the
    load's `figures` query (LoadStats), or for a file that loaded nothing are the slots rows,
    oldest and newest.
    """
    key = id(figures)  # the figures queries are made once per feed
    if key in _INSERTS:
        return _INSERTS[key][1]
    query = figures
    if query is None:
        query = sql.SQL(
            "select {}::bigint, {}::timestamptz, {}::timestamptz, null::bigint, null::bigint"
        ).format(sql.Placeholder("rows"), sql.Placeholder("oldest"), sql.Placeholder("newest"))
    slots = {
        "load_id": "bigint",
        "path": "text",
        "hash": "text",
        "size": "bigint",
        "mtime": "bigint",
        "source": "text",
        "feed": "text",
        "channel": "text",
        "format": "text",
        "status": "text",
        "reason": "text",
        "duplicate_of": "bigint",
        "discovered": "timestamptz",
        "seconds": "double precision",
    }
    template = Template(
        sql.SQL(
            "insert into {} (load_id, file_path, file_hash, size_bytes, mtime_ns, source, feed, channel_id,"
            " file_format, status, reason, duplicate_of, discovered_at, load_seconds, rows_loaded, min_data_ts,"
            " max_data_ts, first_page, end_page) overriding system value select {}, figures.* from ({}) as figures"
        ).format(
            LEDGER,
            sql.SQL(", ").join(
                sql.SQL("{}::{}").format(sql.Placeholder(slot), sql.SQL(kind)) for slot, kind in slots.items()
            ),
            query,
        )
    )
    _INSERTS[key] = (figures, template)
    return template
