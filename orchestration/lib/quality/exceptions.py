"""quality.inventory_exceptions: every finding of every source, with a lifecycle.

A build gathers the *current* findings into a temporary table, set-based:
- MALFORMED_FILE: one per quarantined file of meta.file_ledger;
- DUPLICATE_FILE: one per file whose bytes had already been delivered (ledger status duplicate);
- LATE_EVENTS: one per event file delivered after newer data (see `_late_events`);
- DUPLICATE_EVENT: one per event_id delivered more than once (raw keeps every delivered row), from
  the incremental dbt model stg_raw__duplicate_events (a scan of the raw tables until it exists);
- OUT_OF_ORDER_SNAPSHOT: one per snapshot delivered after a newer snapshot of the same scope;
- UNSUPPORTED_FILE, FILE_REWRITTEN, CONFLICTING_SNAPSHOT: what was delivered (file_findings.py);
- ANOMALY_<type>: one per open row of ai.anomalies (lib/ai/findings.py);
- Great Expectations: one per failing key of the latest validation of each suite
  (quality.gx_findings; STALE_FEED, UNKNOWN_SKU, UNKNOWN_LOCATION, NEGATIVE_QUANTITY, ...);
- dbt rules: the rows of the dbt model `quality_rule_findings` when it exists (NEGATIVE_ON_HAND,
  OVERSOLD, COUNT_VARIANCE, TRANSFER_OVERDUE), see `DBT_FINDINGS_COLUMNS`.

and merges them: a finding's exception_id is md5(type | feed | location_id | sku | discriminator),
so the same finding keeps its id across runs. Findings a data engineer acknowledged
(quality.exception_acknowledgements, `omni-inventory exceptions ack`) are left out. New findings open; open exceptions no longer found
resolve (never deleted); a resolved exception found again re-opens under the same id with
first_seen_at kept. Times are data time (as_of), never the wall clock, so building twice on the
same data changes no row. Every transition is logged in quality.inventory_exception_history.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from orchestration.lib.ai.findings import anomaly_findings
from orchestration.lib.feeds import FEEDS, Feed
from orchestration.lib.quality.file_findings import conflicting_snapshots, rewritten_files, unsupported_files
from orchestration.lib.quality.schema import QUALITY_SCHEMA, ensure_quality_schema, relation_exists
from orchestration.lib.quality.settings import (
    OwnerTeamRule,
    QualitySettings,
    expectations_dir,
    load_owner_teams,
    load_quality_settings,
)
from orchestration.lib.quality.snapshot_index import data_as_of, refresh_snapshot_index
from orchestration.lib.raw_schema import LEDGER_TABLE, META_SCHEMA, RAW_SCHEMA

EXCEPTIONS = sql.Identifier(QUALITY_SCHEMA, "inventory_exceptions")
HISTORY = sql.Identifier(QUALITY_SCHEMA, "inventory_exception_history")
LEDGER = sql.Identifier(META_SCHEMA, LEDGER_TABLE)
ACKNOWLEDGEMENTS = sql.Identifier(QUALITY_SCHEMA, "exception_acknowledgements")
DEFAULT_OWNER_TEAM = "integration"
# Incremental dbt model: every repeated delivery of an event_id, added for new loads only.
DUPLICATE_EVENTS_RELATION = "staging.stg_raw__duplicate_events"
# Findings on permanent evidence: the file stays quarantined, raw keeps every copy, the late
# snapshot stays delivered. They never resolve by themselves; a data engineer acknowledges them.
ACKNOWLEDGEABLE_TYPES = (
    "MALFORMED_FILE",
    "DUPLICATE_FILE",
    "DUPLICATE_EVENT",
    "OUT_OF_ORDER_SNAPSHOT",
    "LATE_EVENTS",
    "FILE_REWRITTEN",
    "CONFLICTING_SNAPSHOT",
)
# Columns the dbt model must have; `finding_key` (text) is optional and tells apart two findings
# of the same type, feed, location and sku (e.g. OVERSOLD per channel).
DBT_FINDINGS_COLUMNS = (
    "exception_type",
    "severity",
    "source_system",
    "feed",
    "location_id",
    "sku",
    "details",
)

CURRENT_FINDINGS_DDL = """
create temporary table current_findings (
    exception_type text not null,
    severity       text not null,
    source_system  text,
    feed           text,
    location_id    text,
    sku            text,
    discriminator  text not null,
    details        jsonb not null
) on commit drop
"""


@dataclass
class ExceptionsReport:
    as_of: datetime | None
    current_by_type: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    open_total: int = 0
    open_blocking: int = 0
    acknowledged: int = 0
    dbt_findings: str = "absent"
    duplicate_events_from: str = "raw scan"
    unmapped_types: list[str] = field(default_factory=list)


def load_owner_team_table(conn: psycopg.Connection, rules: list[OwnerTeamRule]) -> None:
    """The seed's rules as a temporary table for the merge's joins.

    dbt materializes the same file as quality.exception_owner_teams (for BI and ops); the build
    reads the file itself so that it never depends on when the seed last ran.
    """
    conn.execute(
        "create temporary table owner_teams (exception_type text, feed text, owner_team text,"
        " primary key (exception_type, feed)) on commit drop"
    )
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into owner_teams (exception_type, feed, owner_team) values (%s, %s, %s)",
            [(r.exception_type, r.feed, r.owner_team) for r in rules],
        )


def _malformed_files(conn: psycopg.Connection, settings: QualitySettings) -> None:
    conn.execute(
        sql.SQL(
            "insert into current_findings select 'MALFORMED_FILE', %s, l.source, l.feed, null, null,"
            " l.file_path || '|' || l.file_hash,"
            " jsonb_build_object('file_path', l.file_path, 'reason', l.reason, 'load_id', l.load_id,"
            "  'file_hash', l.file_hash, 'channel_id', l.channel_id, 'detected_by', 'loader')"
            " from {} l where l.status = 'quarantined'"
        ).format(LEDGER),
        (settings.severity_of("MALFORMED_FILE"),),
    )


def _duplicate_files(conn: psycopg.Connection, settings: QualitySettings) -> None:
    conn.execute(
        sql.SQL(
            "insert into current_findings select 'DUPLICATE_FILE', %s, l.source, l.feed, null, null,"
            " l.file_path || '|' || l.file_hash,"
            " jsonb_build_object('file_path', l.file_path, 'same_bytes_as', o.file_path, 'load_id', l.load_id,"
            "  'duplicate_of', l.duplicate_of, 'file_hash', l.file_hash, 'channel_id', l.channel_id,"
            "  'detected_by', 'loader')"
            " from {ledger} l left join {ledger} o on o.load_id = l.duplicate_of where l.status = 'duplicate'"
            # a header-only file (an empty slot) repeats the header of another: nothing was sent twice
            " and coalesce(o.rows_loaded, 1) > 0"
        ).format(ledger=LEDGER),
        (settings.severity_of("DUPLICATE_FILE"),),
    )


LATE_EVENTS_SQL = """
insert into current_findings
select 'LATE_EVENTS', %(severity)s, l.source, l.feed, null, null, l.file_path || '|' || l.file_hash,
       jsonb_build_object('file_path', l.file_path, 'load_id', l.load_id, 'channel_id', l.channel_id,
           'oldest_event_ts', l.min_data_ts, 'newest_data_ts_delivered_before', l.known,
           'sla_minutes', s.sla, 'late_by_minutes', round(extract(epoch from (l.known - l.min_data_ts)) / 60),
           'detected_by', 'loader_ledger')
from (
    select f.*, max(f.max_data_ts) over (order by f.mtime_ns, f.load_id
                                         rows between unbounded preceding and 1 preceding) as known
    from {ledger} f where f.status = 'loaded'
) l
join (values {slas}) as s (feed, sla) on s.feed = l.feed
where l.min_data_ts < l.known - make_interval(mins => s.sla)
"""


def _late_events(conn: psycopg.Connection, settings: QualitySettings) -> None:
    """An event file delivered after data that makes its events late.

    Delivery order is the ledger's (file modification time, then load id). A file is late when its
    oldest event is older than the newest data time of any feed delivered before it minus the
    feed's SLA: the platform already knew later data when these events arrived. Data time, not the
    wall clock: the same files give the same findings. A late delivery that no newer data preceded
    by more than the SLA (a quiet hour) cannot be told from an on-time one and is not found.
    """
    slas = sql.SQL(", ").join(
        sql.SQL("({}, {})").format(sql.Literal(feed.feed_id), sql.Literal(settings.sla_minutes(feed)))
        for feed in FEEDS
        if feed.kind == "event"
    )
    conn.execute(
        sql.SQL(LATE_EVENTS_SQL).format(ledger=LEDGER, slas=slas),
        {"severity": settings.severity_of("LATE_EVENTS")},
    )


DUPLICATE_EVENTS_FROM_DBT_SQL = """
insert into current_findings
select 'DUPLICATE_EVENT', %(severity)s, %(source)s, d.feed, {location}, min(first.sku), d.event_id,
       jsonb_build_object('event_id', d.event_id, 'copies', count(*) + 1,
           -- 1: the event re-sent unchanged; more: copies that disagree (counted once anyway)
           'distinct_versions', 1 + count(*) filter (where not d.is_identical), 'channel_id', {channel},
           'files', (select jsonb_agg(f.file_path order by f.load_id) from {ledger} f
                     where f.load_id = any(array_agg(distinct d.load_id) || min(d.first_load_id))),
           'detected_by', 'dbt')
from {duplicates} d
left join {staged} first on first.event_id = d.event_id
where d.feed = %(feed)s
group by d.feed, d.event_id
"""


def _duplicate_events_from_dbt(conn: psycopg.Connection, feed: Feed, settings: QualitySettings) -> None:
    """The incremental path: dbt's stg_raw__duplicate_events, which examines new loads only."""
    names = [col.name for col in feed.columns]
    conn.execute(
        sql.SQL(DUPLICATE_EVENTS_FROM_DBT_SQL).format(
            location=sql.SQL("min(first.location_id)") if "location_id" in names else sql.SQL("null"),
            channel=sql.SQL("min(first.channel_id)") if "channel_id" in names else sql.SQL("null"),
            ledger=LEDGER,
            duplicates=sql.Identifier(*DUPLICATE_EVENTS_RELATION.split(".")),
            # the first delivery, which counted: staged, and found there by its event id
            staged=sql.Identifier(DUPLICATE_EVENTS_RELATION.split(".")[0], f"stg_{feed.raw_table}"),
        ),
        {"severity": settings.severity_of("DUPLICATE_EVENT"), "source": feed.source, "feed": feed.feed_id},
    )


def _duplicate_events(conn: psycopg.Connection, feed: Feed, settings: QualitySettings) -> None:
    """The fallback before dbt built stg_raw__duplicate_events: a scan of the whole raw table."""
    names = [col.name for col in feed.columns]
    business = sql.SQL(", ").join(sql.Identifier("r", c) for c in names)
    location = sql.SQL("min(r.location_id)") if "location_id" in names else sql.SQL("null")
    channel = sql.SQL("min(r.channel_id)") if "channel_id" in names else sql.SQL("null")
    conn.execute(
        sql.SQL(
            "insert into current_findings select 'DUPLICATE_EVENT', %s, %s, %s, {location}, min(r.sku),"
            " r.event_id, jsonb_build_object('event_id', r.event_id, 'copies', count(*),"
            # 1: the same event re-sent; more: copies that disagree (counted once anyway)
            "  'distinct_versions', count(distinct row({business})::text), 'channel_id', {channel},"
            "  'files', (select jsonb_agg(f.file_path order by f.load_id) from {ledger} f"
            "            where f.load_id = any(array_agg(distinct r._load_id))),"
            "  'detected_by', 'raw_sql')"
            " from {raw} r group by r.event_id having count(*) > 1"
        ).format(
            location=location,
            business=business,
            channel=channel,
            ledger=LEDGER,
            raw=sql.Identifier(RAW_SCHEMA, feed.raw_table),
        ),
        (settings.severity_of("DUPLICATE_EVENT"), feed.source, feed.feed_id),
    )


def _out_of_order_snapshots(conn: psycopg.Connection, feed: Feed, settings: QualitySettings) -> None:
    """A snapshot delivered after a newer snapshot of the same scope.

    Delivery order is the file's modification time, then its load id. Load ids alone miss the
    common case: a run that loads a backlog loads it in path order, so a late file loads before
    a newer one whose name sorts after it (pos_inventory_S1_..T0315Z before ..T2400Z).
    """
    scope_column = feed.scope[0] if len(feed.scope) == 1 else None
    location = sql.SQL("o.scope_value") if scope_column == "location_id" else sql.SQL("null")
    conn.execute(
        sql.SQL(
            "insert into current_findings select 'OUT_OF_ORDER_SNAPSHOT', %s, %s, o.feed, {location}, null,"
            " o.scope_value || '|' || o.snapshot_ts::text,"
            " jsonb_build_object('scope', %s::text, 'scope_value', o.scope_value,"
            "  'snapshot_ts', o.snapshot_ts, 'newer_snapshot_ts_delivered_before', o.newer_snapshot_ts,"
            "  'load_id', o.load_id, 'file_path', o.file_path, 'detected_by', 'snapshot_index')"
            " from (select i.*, f.file_path, max(i.snapshot_ts) over ("
            "         partition by i.scope_value order by f.mtime_ns, i.load_id"
            "         rows between unbounded preceding and 1 preceding) as newer_snapshot_ts"
            "       from {index} i join {ledger} f on f.load_id = i.load_id where i.feed = %s) o"
            " where o.snapshot_ts < o.newer_snapshot_ts"
        ).format(location=location, index=sql.Identifier(QUALITY_SCHEMA, "snapshot_index"), ledger=LEDGER),
        (
            settings.severity_of("OUT_OF_ORDER_SNAPSHOT"),
            feed.source,
            ", ".join(feed.scope) or "feed",
            feed.feed_id,
        ),
    )


def _gx_findings(conn: psycopg.Connection) -> None:
    conn.execute(
        "insert into current_findings select exception_type, severity, source_system, feed, location_id, sku,"
        " check_name || '|' || key_values::text,"
        " details || jsonb_build_object('keys', key_values, 'detected_by', 'great_expectations')"
        " from quality.gx_findings"
    )


def _dbt_findings(conn: psycopg.Connection, settings: QualitySettings) -> str:
    """Merge the dbt model's findings when the relation exists; says what it found."""
    relation = settings.dbt_findings_relation
    if not relation_exists(conn, relation):
        return "absent"
    schema, _, name = relation.rpartition(".")
    columns = {
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
            (schema or "public", name),
        ).fetchall()
    }
    missing = [c for c in DBT_FINDINGS_COLUMNS if c not in columns]
    if missing:
        raise ValueError(
            f"{relation} lacks column(s) {', '.join(missing)} (docs/quality.md, dbt rule findings)"
        )
    key = sql.SQL("coalesce(d.finding_key::text, '')") if "finding_key" in columns else sql.SQL("''")
    conn.execute(
        sql.SQL(
            "insert into current_findings select d.exception_type,"
            " coalesce(case when lower(d.severity) in ('blocking', 'warning') then lower(d.severity) end,"
            "          s.severity, 'warning'),"
            " d.source_system, d.feed, d.location_id, d.sku, {key},"
            " coalesce(d.details::jsonb, '{{}}'::jsonb) || jsonb_build_object('detected_by', 'dbt')"
            " from {relation} d left join severity_defaults s on s.exception_type = d.exception_type"
        ).format(key=key, relation=sql.Identifier(*relation.split("."))),
    )
    return relation


def _severity_defaults(conn: psycopg.Connection, settings: QualitySettings) -> None:
    conn.execute(
        "create temporary table severity_defaults (exception_type text primary key, severity text) on commit drop"
    )
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into severity_defaults values (%s, %s)", list(settings.exception_severity.items())
        )


# The merge, one statement each (psycopg binds parameters to single statements).
MERGED_FINDINGS_SQL = """
create temporary table merged_findings on commit drop as
select distinct on (exception_id) *
from (
    select md5(concat_ws('|', f.exception_type, coalesce(f.feed, ''), coalesce(f.location_id, ''),
                         coalesce(f.sku, ''), f.discriminator)) as exception_id,
           f.exception_type, f.severity, f.source_system, f.feed, f.location_id, f.sku, f.details,
           coalesce(exact.owner_team, fallback.owner_team, {default_owner}) as owner_team,
           exact.owner_team is null and fallback.owner_team is null as unmapped
    from current_findings f
    left join owner_teams exact
        on exact.exception_type = f.exception_type and exact.feed = f.feed
    left join owner_teams fallback
        on fallback.exception_type = f.exception_type and fallback.feed = '*'
) findings
-- the same finding from two sources: keep the more severe one
order by exception_id, (severity = 'blocking') desc, details::text
"""

OPENED_SQL = """
insert into {history} (exception_id, transition, as_of)
select m.exception_id, case when e.exception_id is null then 'opened' else 'reopened' end, %(as_of)s
from merged_findings m left join {exceptions} e using (exception_id)
where e.exception_id is null or e.status = 'resolved'
returning transition
"""

RESOLVED_SQL = """
with gone as (
    update {exceptions} e set status = 'resolved'
    where e.status = 'open' and not exists (select 1 from merged_findings m where m.exception_id = e.exception_id)
    returning e.exception_id
)
insert into {history} (exception_id, transition, as_of)
select exception_id, 'resolved', %(as_of)s from gone
"""

UPSERT_SQL = """
insert into {exceptions} as e (exception_id, exception_type, severity, source_system, feed, location_id, sku,
                               detected_at, details, owner_team, status, first_seen_at, last_seen_at)
select exception_id, exception_type, severity, source_system, feed, location_id, sku,
       %(as_of)s, details, owner_team, 'open', %(as_of)s, %(as_of)s
from merged_findings
on conflict (exception_id) do update set
    severity = excluded.severity,
    source_system = excluded.source_system,
    details = excluded.details,
    owner_team = excluded.owner_team,
    detected_at = case when e.status = 'resolved' then excluded.detected_at else e.detected_at end,
    status = 'open',
    last_seen_at = greatest(e.last_seen_at, excluded.last_seen_at)
-- an unchanged finding on unchanged data is not rewritten
where (e.severity, e.source_system, e.details, e.owner_team, e.status, e.last_seen_at)
      is distinct from (excluded.severity, excluded.source_system, excluded.details, excluded.owner_team,
                        'open', greatest(e.last_seen_at, excluded.last_seen_at))
"""


def _fallback_as_of(conn: psycopg.Connection) -> datetime | None:
    """Nothing loaded yet (only quarantined files): the newest discovery in the ledger stands in."""
    row = conn.execute(sql.SQL("select max(discovered_at) from {}").format(LEDGER)).fetchone()
    return row[0] if row else None


def build_inventory_exceptions(url: str, directory: Path | None = None) -> ExceptionsReport:
    """Rebuild quality.inventory_exceptions from the current findings (validate the suites first)."""
    directory = directory or expectations_dir()
    settings = load_quality_settings(directory)
    owner_rules = load_owner_teams()
    with psycopg.connect(url) as conn:
        ensure_quality_schema(conn)
        snapshot_feeds = [f for f in FEEDS if f.kind == "snapshot"]
        for feed in snapshot_feeds:
            refresh_snapshot_index(conn, feed)
        as_of = data_as_of(conn) or _fallback_as_of(conn)
        report = ExceptionsReport(as_of=as_of)
        with conn.transaction():
            # One build at a time: two interleaved merges would resolve each other's findings.
            conn.execute("select pg_advisory_xact_lock(hashtext('omni.inventory_exceptions'))")
            load_owner_team_table(conn, owner_rules)
            conn.execute(CURRENT_FINDINGS_DDL)
            _severity_defaults(conn, settings)
            _malformed_files(conn, settings)
            _duplicate_files(conn, settings)
            _late_events(conn, settings)
            incremental = relation_exists(conn, DUPLICATE_EVENTS_RELATION)
            report.duplicate_events_from = DUPLICATE_EVENTS_RELATION if incremental else "raw scan"
            for feed in FEEDS:
                if feed.kind == "event":
                    if incremental:
                        _duplicate_events_from_dbt(conn, feed, settings)
                    else:
                        _duplicate_events(conn, feed, settings)
            for feed in snapshot_feeds:
                _out_of_order_snapshots(conn, feed, settings)
                conflicting_snapshots(conn, feed, settings)
            unsupported_files(conn, settings)
            rewritten_files(conn, settings)
            anomaly_findings(conn, settings)
            _gx_findings(conn)
            report.dbt_findings = _dbt_findings(conn, settings)
            if as_of is not None:
                _merge(conn, as_of, report)
    return report


def _merge(conn: psycopg.Connection, as_of: datetime, report: ExceptionsReport) -> None:
    names = {"history": HISTORY, "exceptions": EXCEPTIONS}
    conn.execute(sql.SQL(MERGED_FINDINGS_SQL).format(default_owner=sql.Literal(DEFAULT_OWNER_TEAM)))
    # Acknowledged findings are settled: they resolve (if open) and never re-open.
    report.acknowledged = conn.execute(
        sql.SQL("delete from merged_findings m using {} a where a.exception_id = m.exception_id").format(
            ACKNOWLEDGEMENTS
        )
    ).rowcount
    # Transitions are logged before the rows change: they compare with the previous state.
    transitions = Counter(r[0] for r in conn.execute(sql.SQL(OPENED_SQL).format(**names), {"as_of": as_of}))
    report.opened, report.reopened = transitions["opened"], transitions["reopened"]
    report.resolved = conn.execute(sql.SQL(RESOLVED_SQL).format(**names), {"as_of": as_of}).rowcount
    conn.execute(sql.SQL(UPSERT_SQL).format(**names), {"as_of": as_of})
    report.current_by_type = dict(
        conn.execute("select exception_type, count(*) from merged_findings group by 1 order by 1").fetchall()
    )
    report.unmapped_types = [
        r[0]
        for r in conn.execute("select distinct exception_type from merged_findings where unmapped order by 1")
    ]
    totals = conn.execute(
        sql.SQL(
            "select count(*), count(*) filter (where severity = 'blocking') from {} where status = 'open'"
        ).format(EXCEPTIONS)
    ).fetchone()
    report.open_total, report.open_blocking = (totals[0], totals[1]) if totals else (0, 0)


class AcknowledgementError(ValueError):
    """An exception id that is unknown, ambiguous, or of a type that resolves by itself."""


@dataclass(frozen=True)
class Acknowledgement:
    exception_id: str
    exception_type: str
    was_open: bool
    as_of: datetime | None


def _find_exception(conn: psycopg.Connection, id_or_prefix: str) -> tuple[str, str, str]:
    if len(id_or_prefix) < 6:
        raise AcknowledgementError("give at least the first 6 characters of the exception id")
    rows = conn.execute(
        sql.SQL(
            "select exception_id, exception_type, status from {} where exception_id like %s limit 2"
        ).format(EXCEPTIONS),
        (id_or_prefix.replace("%", "").replace("_", "") + "%",),
    ).fetchall()
    if not rows:
        raise AcknowledgementError(f"no exception {id_or_prefix}")
    if len(rows) > 1:
        raise AcknowledgementError(f"{id_or_prefix} names more than one exception: give more characters")
    return rows[0]


def acknowledge_exception(url: str, id_or_prefix: str, by: str, note: str) -> Acknowledgement:
    """Settle a finding on permanent evidence: it becomes (and stays) resolved.

    Only ACKNOWLEDGEABLE_TYPES: any other finding resolves by itself once the data is fixed, and
    acknowledging it would hide a problem that is still there. Recorded in
    quality.exception_acknowledgements (who, why, when) and as a `resolved` transition at as_of.
    """
    if not by.strip() or not note.strip():
        raise AcknowledgementError("say who acknowledges (--by) and why (--note)")
    with psycopg.connect(url) as conn:
        ensure_quality_schema(conn)
        with conn.transaction():
            # Not while a build merges: it would re-open what this resolves.
            conn.execute("select pg_advisory_xact_lock(hashtext('omni.inventory_exceptions'))")
            exception_id, exception_type, status = _find_exception(conn, id_or_prefix)
            if exception_type not in ACKNOWLEDGEABLE_TYPES:
                raise AcknowledgementError(
                    f"{exception_type} resolves by itself when the data no longer shows it; only "
                    f"{', '.join(ACKNOWLEDGEABLE_TYPES)} are acknowledged"
                )
            conn.execute(
                sql.SQL(
                    "insert into {} (exception_id, acknowledged_by, note) values (%s, %s, %s)"
                    " on conflict (exception_id) do update set acknowledged_by = excluded.acknowledged_by,"
                    " note = excluded.note, acknowledged_at = now()"
                ).format(ACKNOWLEDGEMENTS),
                (exception_id, by.strip(), note.strip()),
            )
            as_of = data_as_of(conn) or _fallback_as_of(conn)
            if status == "open":
                conn.execute(
                    sql.SQL("update {} set status = 'resolved' where exception_id = %s").format(EXCEPTIONS),
                    (exception_id,),
                )
                conn.execute(
                    sql.SQL(
                        "insert into {} (exception_id, transition, as_of) values (%s, 'resolved', %s)"
                    ).format(HISTORY),
                    (exception_id, as_of),
                )
    return Acknowledgement(exception_id, exception_type, status == "open", as_of)


LIST_COLUMNS = (
    "exception_id",
    "exception_type",
    "severity",
    "feed",
    "location_id",
    "sku",
    "owner_team",
    "status",
    "last_seen_at",
    "acknowledged_by",
)


def list_exceptions(
    url: str,
    *,
    status: str | None = "open",
    exception_type: str | None = None,
    owner_team: str | None = None,
    limit: int = 100,
) -> tuple[list[tuple], int]:
    """Exceptions with their acknowledgement, blocking and newest first (`omni-inventory exceptions
    list`), and how many match in all (the list stops at `limit`)."""
    with psycopg.connect(url) as conn:
        ensure_quality_schema(conn)
        rows = conn.execute(
            sql.SQL(
                "select e.exception_id, e.exception_type, e.severity, e.feed, e.location_id, e.sku, e.owner_team,"
                " e.status, e.last_seen_at, a.acknowledged_by, count(*) over () from {exceptions} e"
                " left join {acks} a using (exception_id)"
                " where (%(status)s::text is null or e.status = %(status)s)"
                " and (%(type)s::text is null or e.exception_type = %(type)s)"
                " and (%(team)s::text is null or e.owner_team = %(team)s)"
                " order by e.severity = 'blocking' desc, e.last_seen_at desc, e.exception_type, e.exception_id"
                " limit %(limit)s"
            ).format(exceptions=EXCEPTIONS, acks=ACKNOWLEDGEMENTS),
            {"status": status, "type": exception_type, "team": owner_team, "limit": limit},
        ).fetchall()
    return [row[:-1] for row in rows], (rows[0][-1] if rows else 0)
