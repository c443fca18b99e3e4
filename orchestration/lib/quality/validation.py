"""Validate the raw feeds' suites: fingerprints, locks, batches, GX, and what is kept of it.

`validate_feeds(url, feeds)` is safe to call from anywhere, any number of times:
- a suite whose inputs did not change since its last validation (same fingerprint: suite, as_of,
  the loads of its feed and of the masters it references) is not run again; its stored outcome
  is returned. The raw feeds' asset checks and the exceptions asset both call it, whichever runs
  first in a run does the work;
- when only as_of moved (another feed loaded), only the expectations that read as_of run again
  (snapshot_within_sla), on the same batch; the others keep their outcome and findings. Every
  micro-batch moves as_of, and re-running a snapshot suite in full read every row of the newest
  snapshots (a policy or count of every position) each time;
- a suite is validated under a session advisory lock, so two runs never validate it at once;
- the outcome goes to quality.gx_validations and every failing key to quality.gx_findings (an
  expectation that raised keeps its previous findings: an error is not a clean bill).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql
from psycopg.types.json import Jsonb

from orchestration.lib.feeds import FEEDS, Feed, get_feed
from orchestration.lib.quality.batches import (
    Batch,
    changed_rows_batch,
    event_batch,
    newest_snapshot_times_batch,
    snapshot_batch,
)
from orchestration.lib.quality.gx_validation import (
    SAMPLE_KEYS,
    GxSession,
    RuleResult,
    prefetch_great_expectations,
)
from orchestration.lib.quality.schema import ensure_quality_schema, relation_exists
from orchestration.lib.quality.settings import (
    QualityConfigError,
    QualitySettings,
    expectations_dir,
    load_quality_settings,
)
from orchestration.lib.quality.snapshot_index import data_as_of, refresh_snapshot_index
from orchestration.lib.quality.suites import (
    MartTarget,
    Suite,
    load_feed_suite,
    load_mart_suites,
    mart_target,
    suite_name,
)
from orchestration.lib.raw_schema import LEDGER_TABLE, META_SCHEMA
from orchestration.lib.settings import DBT_PROJECT_DIR

# Every suite's referential checks read these masters: a new load of them changes its outcome.
REFERENCE_FEEDS = ("erp/items", "erp/locations")
ERROR_FINGERPRINT_SUFFIX = ":error"


@dataclass
class ExpectationOutcome:
    check_name: str
    type: str
    description: str
    severity: str
    exception_type: str
    success: bool
    unexpected_count: int
    keys_listed: int
    truncated: bool
    sample_keys: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @classmethod
    def of(cls, result: RuleResult) -> ExpectationOutcome:
        rule = result.rule
        return cls(
            check_name=rule.check_name,
            type=rule.type,
            description=rule.description,
            severity=rule.severity,
            exception_type=rule.exception_type,
            success=result.success,
            unexpected_count=result.unexpected_count,
            keys_listed=len(result.findings),
            truncated=result.truncated,
            sample_keys=[f.key_values for f in result.findings[:SAMPLE_KEYS]],
            error=result.error,
        )


@dataclass
class SuiteOutcome:
    suite: str
    feed_id: str
    as_of: str | None
    validated_at: str
    validated_now: bool
    seconds: float
    batch: str
    batch_rows: int
    expectations: list[ExpectationOutcome]

    def of_severity(self, severity: str) -> list[ExpectationOutcome]:
        return [e for e in self.expectations if e.severity == severity]

    def failed(self, severity: str) -> list[ExpectationOutcome]:
        return [e for e in self.of_severity(severity) if not e.success]


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()[:24]


def _fingerprint(
    suite: Suite, settings: QualitySettings, as_of: datetime | None, loads: dict[str, Any]
) -> str:
    """`<suite digest>:<data digest>:<as_of digest>`: the suite; the loads of its feed and the
    masters; as_of."""
    feeds = sorted({suite.feed_id, *REFERENCE_FEEDS})
    data = _digest([settings.max_failing_keys, [[f, loads.get(f)] for f in feeds]])
    return f"{suite.digest}:{data}:{_digest(as_of.isoformat() if as_of else None)}"


def _only_as_of_moved(stored: str, fingerprint: str) -> bool:
    """Same suite and data, another as_of; never after a validation that raised (it runs again)."""
    return (
        not stored.endswith(ERROR_FINGERPRINT_SUFFIX)
        and stored.rsplit(":", 1)[0] == fingerprint.rsplit(":", 1)[0]
    )


def _load_stats(conn: psycopg.Connection) -> dict[str, list[int]]:
    rows = conn.execute(
        sql.SQL("select feed, count(*), max(load_id) from {} where status = 'loaded' group by feed").format(
            sql.Identifier(META_SCHEMA, LEDGER_TABLE)
        )
    ).fetchall()
    return {r[0]: [r[1], r[2]] for r in rows}


@contextmanager
def _suite_lock(conn: psycopg.Connection, suite: str) -> Iterator[None]:
    conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (f"omni.gx.{suite}",))
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (f"omni.gx.{suite}",))


def _stored(conn: psycopg.Connection, suite: str) -> tuple[str, SuiteOutcome] | None:
    row = conn.execute(
        "select fingerprint, as_of, validated_at, seconds, batch, batch_rows, expectations, feed"
        " from quality.gx_validations where suite = %s",
        (suite,),
    ).fetchone()
    if row is None:
        return None
    fingerprint, as_of, validated_at, seconds, batch, rows, expectations, feed = row
    try:
        stored_expectations = [ExpectationOutcome(**e) for e in expectations]
    except TypeError:
        return None  # stored by another version of this module: validate again
    outcome = SuiteOutcome(
        suite=suite,
        feed_id=feed,
        as_of=as_of.isoformat() if as_of else None,
        validated_at=validated_at.isoformat(),
        validated_now=False,
        seconds=seconds,
        batch=batch,
        batch_rows=rows,
        expectations=stored_expectations,
    )
    return fingerprint, outcome


def _stored_fingerprints(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("select suite, fingerprint from quality.gx_validations").fetchall())


def _open_keys(conn: psycopg.Connection, suite: str) -> list[dict[str, Any]]:
    rows = conn.execute("select key_values from quality.gx_findings where suite = %s", (suite,)).fetchall()
    return [r[0] for r in rows]


def _persist(
    conn: psycopg.Connection,
    feed: Feed | MartTarget,
    suite: Suite,
    batch: Batch,
    results: list[RuleResult],
    outcome: SuiteOutcome,
    fingerprint: str,
    as_of: datetime | None,
    validated_through: int | None = None,
) -> None:
    validated_at = datetime.fromisoformat(outcome.validated_at)
    evaluated = [r.rule.check_name for r in results if r.error is None]
    with conn.transaction():
        conn.execute(
            "delete from quality.gx_findings where suite = %s and check_name = any(%s)",
            (suite.name, evaluated),
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into quality.gx_findings (suite, check_name, exception_type, severity, feed, source_system,"
                " location_id, sku, key_values, details, as_of, validated_at)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                # the same key twice in one result (duplicated raw rows): one finding
                " on conflict (suite, check_name, key_values) do nothing",
                [
                    (
                        suite.name,
                        r.rule.check_name,
                        r.rule.exception_type,
                        r.rule.severity,
                        feed.feed_id,
                        feed.source,
                        f.location_id,
                        f.sku,
                        Jsonb(f.key_values),
                        Jsonb(
                            {
                                **f.details,
                                "check": r.rule.check_name,
                                "expectation": r.rule.type,
                                "rule": r.rule.description,
                                "suite": suite.name,
                            }
                        ),
                        as_of,
                        validated_at,
                    )
                    for r in results
                    if r.error is None
                    for f in r.findings
                ],
            )
        if batch.new_loads:
            conn.execute(
                "insert into quality.gx_validated_loads (suite, load_id) select %s, unnest(%s::bigint[])"
                " on conflict do nothing",
                (suite.name, batch.new_loads),
            )
        conn.execute(
            "insert into quality.gx_validations (suite, feed, fingerprint, as_of, validated_at, seconds,"
            " batch_rows, batch, expectations, validated_through)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (suite) do update set feed = excluded.feed, fingerprint = excluded.fingerprint,"
            " as_of = excluded.as_of, validated_at = excluded.validated_at, seconds = excluded.seconds,"
            " batch_rows = excluded.batch_rows, batch = excluded.batch, expectations = excluded.expectations,"
            " validated_through = excluded.validated_through",
            (
                suite.name,
                feed.feed_id,
                fingerprint,
                as_of,
                validated_at,
                outcome.seconds,
                outcome.batch_rows,
                outcome.batch,
                Jsonb([asdict(e) for e in outcome.expectations]),
                validated_through,
            ),
        )


def _reset_if_suite_changed(conn: psycopg.Connection, suite: Suite) -> None:
    """A changed suite re-validates every event from scratch and forgets findings of removed checks."""
    row = conn.execute(
        "select expectations from quality.gx_validations where suite = %s", (suite.name,)
    ).fetchone()
    if row is None:
        return
    known = {rule.check_name for rule in suite.rules}
    stored = {e["check_name"] for e in row[0]}
    removed = sorted(stored - known)
    with conn.transaction():
        if removed:
            conn.execute(
                "delete from quality.gx_findings where suite = %s and check_name = any(%s)",
                (suite.name, removed),
            )
        conn.execute("delete from quality.gx_validated_loads where suite = %s", (suite.name,))


def _forget_unknown_suites(conn: psycopg.Connection, directory: Path) -> None:
    """Suites of feeds no longer in the registry (or mart suite files removed) must not hold the
    gate closed forever."""
    known = [suite_name(feed) for feed in FEEDS] + [suite.name for suite in load_mart_suites(directory)]
    with conn.transaction():
        for table in ("gx_validations", "gx_findings", "gx_validated_loads"):
            conn.execute(
                sql.SQL("delete from {} where suite <> all(%s)").format(sql.Identifier("quality", table)),
                (known,),
            )


class FeedValidator:
    """Validates suites over one warehouse; GX is started only when a suite must really run."""

    def __init__(
        self,
        url: str,
        directory: Path | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.url = url
        self.directory = directory or expectations_dir()
        self.settings = load_quality_settings(self.directory)
        self.log = log or (lambda _message: None)
        self._session: GxSession | None = None

    def session(self) -> GxSession:
        if self._session is None:
            self._session = GxSession(self.url)
            self.log(f"Great Expectations started ({self._session.import_seconds:.1f}s to import)")
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def validate(
        self, feeds: Iterable[Feed], *, force: bool = False, full: bool = False
    ) -> list[SuiteOutcome]:
        """Validate the feeds' suites whose inputs changed (all of them with `force`).

        `full` also forgets which event loads were validated, so every event is validated again
        (after a master data correction that should re-examine old events).
        """
        feeds = list(feeds)
        force = force or full
        suites = {feed.feed_id: load_feed_suite(self.directory, feed) for feed in feeds}
        outcomes = []
        with psycopg.connect(self.url, autocommit=True) as conn:
            ensure_quality_schema(conn)
            as_of = data_as_of(conn)
            loads = _load_stats(conn)
            _forget_unknown_suites(conn, self.directory)
            if full:
                conn.execute(
                    "delete from quality.gx_validated_loads where suite = any(%s)",
                    ([suites[f.feed_id].name for f in feeds],),
                )
            fingerprints = {
                f.feed_id: _fingerprint(suites[f.feed_id], self.settings, as_of, loads) for f in feeds
            }
            stored = _stored_fingerprints(conn)
            due = [f for f in feeds if force or stored.get(suites[f.feed_id].name) != fingerprints[f.feed_id]]
            if due:
                prefetch_great_expectations()
            for feed in due:
                if feed.kind == "snapshot":
                    refresh_snapshot_index(conn, feed)
            for feed in feeds:
                suite = suites[feed.feed_id]
                with _suite_lock(conn, suite.name):
                    outcomes.append(
                        self._validate_one(conn, feed, suite, fingerprints[feed.feed_id], as_of, force)
                    )
        return outcomes

    def _validate_one(
        self,
        conn: psycopg.Connection,
        feed: Feed,
        suite: Suite,
        fingerprint: str,
        as_of: datetime | None,
        force: bool,
    ) -> SuiteOutcome:
        stored = _stored(conn, suite.name)
        if stored and stored[0] == fingerprint and not force:
            return stored[1]
        if stored is None or not stored[0].startswith(f"{suite.digest}:"):
            _reset_if_suite_changed(conn, suite)
        # Only as_of moved: the expectations that read it run again, the others' outcomes stand.
        kept = (
            stored[1].expectations
            if stored and not force and _only_as_of_moved(stored[0], fingerprint)
            else []
        )
        rerun = replace(suite, rules=tuple(r for r in suite.rules if r.reads_as_of)) if kept else suite
        # snapshot_within_sla, re-run because as_of moved, needs the newest snapshot_ts of each scope only
        newest_times_only = (
            bool(kept and rerun.rules)
            and feed.kind == "snapshot"
            and _reads_newest_snapshot_times_only(rerun, feed)
        )
        started = time.monotonic()
        if not rerun.rules:
            batch = Batch("", "", stored[1].batch if stored else "", 0)
        elif newest_times_only:
            batch = newest_snapshot_times_batch(conn, feed)
        elif feed.kind == "snapshot":
            batch = snapshot_batch(conn, feed)
        else:
            batch = event_batch(conn, feed, suite.name, _open_keys(conn, suite.name))
        if batch.is_empty:
            # Nothing new and nothing open: every expectation holds on an empty batch.
            results = [RuleResult(rule, True, 0) for rule in rerun.rules]
        else:
            results = self.session().validate(rerun, batch, self.settings.max_failing_keys)
        rerun_outcomes = {r.rule.check_name: ExpectationOutcome.of(r) for r in results}
        on = f" on the {batch.description}" if newest_times_only else ""
        moved = (
            f" (as_of moved: {len(results)} of {len(suite.rules)} expectations run again{on})" if kept else ""
        )
        outcome = SuiteOutcome(
            suite=suite.name,
            feed_id=feed.feed_id,
            as_of=as_of.isoformat() if as_of else None,
            validated_at=datetime.now(UTC).isoformat(),
            validated_now=True,
            seconds=round(time.monotonic() - started, 3),
            # only as_of moved: the batch is the one the kept outcomes were judged on
            batch=stored[1].batch if stored and kept else batch.description,
            batch_rows=stored[1].batch_rows if stored and kept else batch.rows,
            expectations=[rerun_outcomes.get(e.check_name, e) for e in kept]
            if kept
            else list(rerun_outcomes.values()),
        )
        # An expectation that raised is retried next time, whatever changed or not.
        stored_fingerprint = fingerprint + (ERROR_FINGERPRINT_SUFFIX if any(r.error for r in results) else "")
        _persist(conn, feed, suite, batch, results, outcome, stored_fingerprint, as_of)
        failed = [e.check_name for e in outcome.expectations if not e.success]
        self.log(
            f"{suite.name}: {outcome.batch}{moved}, {len(results)} expectations in {outcome.seconds:.2f}s"
            + (f", failed: {', '.join(failed)}" if failed else ", all passed")
        )
        return outcome


def _reads_newest_snapshot_times_only(suite: Suite, feed: Feed) -> bool:
    """Every expectation of `suite` reads only the scope and snapshot_ts of a snapshot batch."""
    allowed = {*feed.scope, "snapshot_ts"}
    return all(
        rule.reads_batch_columns is not None and rule.reads_batch_columns <= allowed for rule in suite.rules
    )


def validate_feeds(
    url: str,
    feeds: Iterable[Feed],
    *,
    directory: Path | None = None,
    force: bool = False,
    full: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[SuiteOutcome]:
    validator = FeedValidator(url, directory, log)
    try:
        return validator.validate(feeds, force=force, full=full)
    finally:
        validator.close()


def feeds_by_id(feed_ids: Iterable[str]) -> list[Feed]:
    feeds = []
    for feed_id in feed_ids:
        source, name = feed_id.split("/", 1)
        feed = get_feed(source, name)
        if feed is None:
            raise KeyError(f"unknown feed {feed_id}")
        feeds.append(feed)
    return feeds


def dbt_vars() -> dict[str, Any]:
    """The dbt project's vars: suite parameters of the mart suites (one copy of each tolerance)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text()) or {}
    return {k: v for k, v in (project.get("vars") or {}).items() if isinstance(v, int | float | str)}


# The relations a view reads (its rewrite rule's dependencies), with their kind.
VIEW_INPUTS_SQL = """
select distinct input_ns.nspname || '.' || input.relname, input.relkind
from pg_rewrite as rule
join pg_depend as dependency
  on dependency.classid = 'pg_rewrite'::regclass and dependency.objid = rule.oid
 and dependency.refclassid = 'pg_class'::regclass
join pg_class as input on input.oid = dependency.refobjid
join pg_namespace as input_ns on input_ns.oid = input.relnamespace
where rule.ev_class = %s::regclass and input.oid <> rule.ev_class
"""


def _mart_state(conn: psycopg.Connection, relation: str) -> str | None:
    """The data state of a mart view: the watermarks (meta.dbt_watermarks) of the incremental
    tables it reads, which each build moves in the same transaction as the rows, and the view's
    comment (the fingerprint of its definition, macros/unchanged_views.sql). None when that cannot
    be told (a table mart, a view reading a view or a table without a watermark): then the suite
    validates every time."""
    kind = conn.execute(
        "select relkind, obj_description(oid, 'pg_class') from pg_class where oid = %s::regclass", (relation,)
    ).fetchone()
    if kind is None or kind[0] != "v" or not relation_exists(conn, "meta.dbt_watermarks"):
        return None
    inputs = conn.execute(VIEW_INPUTS_SQL, (relation,)).fetchall()
    if not inputs or any(input_kind != "r" for _, input_kind in inputs):
        return None
    names = sorted(name for name, _ in inputs)
    marks = conn.execute(
        "select model, run_seq, updated_at from meta.dbt_watermarks where model = any(%s) order by model",
        (names,),
    ).fetchall()
    if len(marks) != len(names):
        return None
    return _digest(
        [kind[1], *([model, run_seq, updated_at.isoformat()] for model, run_seq, updated_at in marks)]
    )


def _newest_build(conn: psycopg.Connection, suite: Suite) -> int | None:
    """The newest `_run_seq` in the suite's changed_rows_from table: what validating now covers.
    Read before the rows: a build committing meanwhile is validated now and again next time."""
    if suite.changed_rows_from is None:
        return None
    if not relation_exists(conn, suite.changed_rows_from):
        raise QualityConfigError(
            f"suite {suite.name}: meta.changed_rows_from names {suite.changed_rows_from}, which does not exist"
        )
    row = conn.execute(
        sql.SQL("select coalesce(max(_run_seq), 0) from {}").format(
            sql.Identifier(*suite.changed_rows_from.split(".", 1))
        )
    ).fetchone()
    return int(row[0]) if row else 0


def _validated_through(
    conn: psycopg.Connection,
    suite: Suite,
    stored: tuple[str, SuiteOutcome] | None,
    open_keys: list[dict[str, Any]],
) -> int | None:
    """The build up to which the suite's last validation judged every row, when validating only
    the rows rewritten since (and the open findings' rows) gives the same verdicts as validating
    all; else None. It does not when the suite changed, an expectation raised or listed fewer
    failing keys than it counted, or a finding lacks a key value to find its row by."""
    if suite.changed_rows_from is None or stored is None:
        return None
    fingerprint, outcome = stored
    if not fingerprint.startswith(f"{suite.digest}:mart") or fingerprint.endswith(ERROR_FINGERPRINT_SUFFIX):
        return None
    if any(e.truncated or e.error for e in outcome.expectations):
        return None
    row = conn.execute(
        "select validated_through from quality.gx_validations where suite = %s", (suite.name,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    if any(k.get(column) is None for k in open_keys for column in suite.index_columns):
        return None
    return int(row[0])


def validate_marts(
    url: str,
    *,
    directory: Path | None = None,
    relations: Iterable[str] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[SuiteOutcome]:
    """Validate the mart suites (all, or those of `relations`) whose relation exists.

    A mart is current state: its suite validates the whole relation, unless it is a view whose
    input tables no build has changed since its last validation (`_mart_state`; the exceptions
    asset and the marts' checks both validate, in one run). Failing keys go to
    quality.gx_findings like a raw suite's, under the relation's name.
    """
    directory = directory or expectations_dir()
    settings = load_quality_settings(directory)
    log = log or (lambda _message: None)
    wanted = set(relations) if relations is not None else None
    suites = [s for s in load_mart_suites(directory) if wanted is None or s.name in wanted]
    parameters = dbt_vars()
    outcomes: list[SuiteOutcome] = []
    session: GxSession | None = None
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            ensure_quality_schema(conn)
            as_of = data_as_of(conn)
            for suite in suites:
                if not relation_exists(conn, suite.table):
                    log(f"{suite.name}: {suite.table} is not built yet, not validated")
                    continue
                target = mart_target(suite)
                schema, _, name = suite.table.partition(".")
                with _suite_lock(conn, suite.name):
                    # read before the relation's rows: a build committing meanwhile moves it
                    state = _mart_state(conn, suite.table)
                    fingerprint = f"{suite.digest}:mart" + (f":{state}" if state else "")
                    stored = _stored(conn, suite.name)
                    if state is not None and stored is not None and stored[0] == fingerprint:
                        log(f"{suite.name}: unchanged since its validation at {stored[1].validated_at}")
                        outcomes.append(stored[1])
                        continue
                    started = time.monotonic()
                    through = _newest_build(conn, suite)
                    open_keys = _open_keys(conn, suite.name) if suite.changed_rows_from else []
                    since = _validated_through(conn, suite, stored, open_keys)
                    if since is not None:
                        batch = changed_rows_batch(
                            conn,
                            suite.table,
                            str(suite.changed_rows_from),
                            suite.index_columns,
                            since,
                            open_keys,
                        )
                    else:
                        counted = conn.execute(
                            sql.SQL("select count(*) from {}").format(sql.Identifier(schema, name))
                        ).fetchone()
                        batch = Batch(
                            schema, name, f"every row of {suite.table}", int(counted[0] if counted else 0)
                        )
                    if batch.is_empty:
                        # no row rewritten and nothing open: every expectation holds
                        results = [RuleResult(rule, True, 0) for rule in suite.rules]
                    else:
                        if session is None:
                            prefetch_great_expectations()
                            session = GxSession(url)
                        results = session.validate(suite, batch, settings.max_failing_keys, parameters)
                    outcome = SuiteOutcome(
                        suite=suite.name,
                        feed_id=target.feed_id,
                        as_of=as_of.isoformat() if as_of else None,
                        validated_at=datetime.now(UTC).isoformat(),
                        validated_now=True,
                        seconds=round(time.monotonic() - started, 3),
                        batch=batch.description,
                        batch_rows=batch.rows,
                        expectations=[ExpectationOutcome.of(r) for r in results],
                    )
                    if any(r.error for r in results):
                        fingerprint += ERROR_FINGERPRINT_SUFFIX
                    _persist(conn, target, suite, batch, results, outcome, fingerprint, as_of, through)
                failed = [e.check_name for e in outcome.expectations if not e.success]
                log(
                    f"{suite.name}: {batch.description if since is not None else f'{batch.rows} rows'}, "
                    f"{len(results)} expectations in {outcome.seconds:.2f}s"
                    + (f", failed: {', '.join(failed)}" if failed else ", all passed")
                )
                outcomes.append(outcome)
    finally:
        if session is not None:
            session.close()
    return outcomes
