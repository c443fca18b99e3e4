"""ai.exception_clusters: open exceptions grouped by a shared cause, with the likely root cause.

Within each owner team, exceptions are clustered by agglomerative clustering (scikit-learn,
average linkage on a precomputed distance): two exceptions are close when they come from the same
file, or share feed and location, or feed and day. Agglomerative rather than k-means: the number
of causes is not known ahead, a distance threshold decides it, and the result is the same for
the same exceptions. The root cause is named from the process records: quarantined files of the
feed in the ledger, recent run failures, the feed's latency against its SLA, or what the
exception types say; the summary and action are sentences composed from those facts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
from sklearn.cluster import AgglomerativeClustering

from orchestration.lib.ai.schema import AI_SCHEMA, MODEL_VERSION, ensure_ai_schema
from orchestration.lib.quality.schema import relation_exists

DISTANCE_THRESHOLD = 0.5
# Above this many open exceptions of one team, the distance matrix (n^2) would not fit comfortably:
# exceptions are then grouped by feed and location directly.
MAX_CLUSTERED = 3000
MODEL = "agglomerative_average_linkage"

OPEN_SQL = """
select exception_id, owner_team, exception_type, severity, coalesce(feed, ''), coalesce(location_id, ''),
       coalesce(sku, ''), coalesce(details ->> 'file_path', ''), first_seen_at, last_seen_at::date::text
from quality.inventory_exceptions where status = 'open'
order by owner_team, exception_id
"""


@dataclass(frozen=True)
class OpenException:
    exception_id: str
    owner_team: str
    exception_type: str
    severity: str
    feed: str
    location_id: str
    sku: str
    file_path: str
    first_seen_at: datetime | None
    day: str


def _codes(values: list[str], empty_is_none: bool) -> np.ndarray:
    """Each value as an integer code; an empty value as -1 when it matches nothing."""
    index: dict[str, int] = {}
    return np.array([-1 if empty_is_none and not v else index.setdefault(v, len(index)) for v in values])


def _same(codes: np.ndarray) -> np.ndarray:
    """n x n: whether two items share a (non-empty) value."""
    return (codes[:, None] == codes[None, :]) & (codes[:, None] >= 0)


def distances(items: list[OpenException]) -> np.ndarray:
    """n x n distances: 0 for the same file; otherwise 1 less 0.4 for the same feed, 0.4 for the
    same location, 0.2 for the same exception type and 0.1 for the same day (at least 0).
    Computed on whole arrays: a pairwise loop in Python made clustering a team of 1,610 open
    exceptions take 1.0-1.1 s; whole arrays, 0.1-0.2 s (benchmarks/ai.py at the default scale)."""
    similarity = (
        0.4 * _same(_codes([e.feed for e in items], empty_is_none=True))
        + 0.4 * _same(_codes([e.location_id for e in items], empty_is_none=True))
        + 0.2 * _same(_codes([e.exception_type for e in items], empty_is_none=False))
        + 0.1 * _same(_codes([e.day for e in items], empty_is_none=False))
    )
    result = np.maximum(0.0, 1.0 - similarity)
    result[_same(_codes([e.file_path for e in items], empty_is_none=True))] = 0.0
    return result


def cluster_labels(items: list[OpenException]) -> list[int]:
    if len(items) == 1:
        return [0]
    if len(items) > MAX_CLUSTERED:
        keys: dict[tuple[str, str], int] = {}
        return [keys.setdefault((e.feed, e.location_id), len(keys)) for e in items]
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=DISTANCE_THRESHOLD
    )
    return [int(label) for label in model.fit_predict(distances(items))]


def _process_facts(conn: psycopg.Connection) -> dict[str, dict]:
    """Per feed: quarantined files, latency against SLA; and the newest run failure."""
    facts: dict[str, dict] = defaultdict(dict)
    for feed, quarantined in conn.execute(
        "select feed, count(*) from meta.file_ledger where status = 'quarantined' group by 1"
    ).fetchall():
        facts[feed]["quarantined_files"] = quarantined
    if relation_exists(conn, "ops.feed_latency"):
        for feed, p95 in conn.execute(
            "select feed, p95_data_to_loaded_minutes from ops.feed_latency where p95_data_to_loaded_minutes is not null"
        ).fetchall():
            facts[feed]["p95_latency_minutes"] = float(p95)
    if relation_exists(conn, "ops.run_failures"):
        row = conn.execute(
            "select job_name, failed_at from ops.run_failures order by failed_at desc limit 1"
        ).fetchone()
        if row:
            facts[""]["run_failure"] = {"job": row[0], "at": row[1].isoformat()}
    return facts


TYPE_CAUSES = {
    "UNKNOWN_SKU": (
        "the item master lags behind the systems selling the skus",
        "add the skus to the ERP item master",
    ),
    "UNKNOWN_LOCATION": (
        "the location master lags behind the systems using the locations",
        "add the locations to the ERP location master",
    ),
    "COUNT_VARIANCE": (
        "counts and books drift apart at the location",
        "recount the location and check its receiving",
    ),
    "ANOMALY_RECURRING_COUNT_VARIANCE": (
        "counts and books drift apart at the location, day after day",
        "recount the location and check its receiving before the next promotion",
    ),
    "NEGATIVE_ON_HAND": (
        "movements recorded without the stock they move",
        "check the location's unposted receipts",
    ),
    "OVERSOLD": (
        "channels sell beyond what the policy leaves them",
        "review the channel's reservation policy",
    ),
    "ANOMALY_DEMAND_SPIKE": (
        "a demand spike on the channel",
        "apply the suggested temporary reservation policy (ai.policy_suggestions)",
    ),
    "ANOMALY_MOVEMENT_ANOMALY": (
        "unusual adjustments or damages at the location",
        "check the adjustments' references with the site",
    ),
    "STALE_FEED": (
        "a feed that stopped delivering on time",
        "ask the source system's team for the missing deliveries",
    ),
    "LATE_EVENTS": ("a feed that delivers late", "ask the source system's team to deliver on time"),
    "TRANSFER_OVERDUE": ("transfers shipped but not received", "chase the receiving site"),
}


def _root_cause(members: list[OpenException], facts: dict[str, dict]) -> tuple[str, str]:
    feeds = Counter(m.feed for m in members if m.feed)
    feed = feeds.most_common(1)[0][0] if feeds else ""
    types = Counter(m.exception_type for m in members)
    main_type = types.most_common(1)[0][0]
    if "MALFORMED_FILE" in types or "UNSUPPORTED_FILE" in types:
        quarantined = facts.get(feed, {}).get("quarantined_files", 0)
        return (
            f"malformed deliveries from {feed or 'an interface'} ({quarantined} file(s) quarantined in the file ledger)",
            "fix the interface's export and re-send the files under new names",
        )
    latency = facts.get(feed, {}).get("p95_latency_minutes")
    if main_type in ("STALE_FEED", "LATE_EVENTS") and latency is not None:
        return (f"{feed} delivers late (p95 {latency:.0f} min from data to load)", TYPE_CAUSES[main_type][1])
    failure = facts.get("", {}).get("run_failure")
    if main_type in ("STALE_FEED",) and failure:
        return (
            f"a failed run of {failure['job']} at {failure['at']}",
            "look at the failed run in the Dagster UI and re-run it",
        )
    cause, action = TYPE_CAUSES.get(
        main_type,
        (f"{main_type.lower().replace('_', ' ')} findings", "work through the queue in priority order"),
    )
    return cause, action


def rebuild_clusters(url: str) -> int:
    """Rebuild ai.exception_clusters from the open exceptions; returns the number of clusters."""
    with psycopg.connect(url) as conn:
        ensure_ai_schema(conn)
        if not relation_exists(conn, "quality.inventory_exceptions"):
            return 0
        items = [OpenException(*row) for row in conn.execute(OPEN_SQL).fetchall()]
        facts = _process_facts(conn)
        by_team: dict[str, list[OpenException]] = defaultdict(list)
        for item in items:
            by_team[item.owner_team].append(item)
        rows = []
        for team, members_of_team in sorted(by_team.items()):
            groups: dict[int, list[OpenException]] = defaultdict(list)
            for label, item in zip(cluster_labels(members_of_team), members_of_team, strict=True):
                groups[label].append(item)
            for members in groups.values():
                rows.append(_cluster_row(team, members, facts))
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('omni.ai_clusters'))")
            conn.execute(f"truncate {AI_SCHEMA}.exception_clusters")
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"insert into {AI_SCHEMA}.exception_clusters values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
        return len(rows)


def _cluster_row(team: str, members: list[OpenException], facts: dict[str, dict]) -> tuple:
    ids = sorted(m.exception_id for m in members)
    types = sorted({m.exception_type for m in members})
    locations = sorted({m.location_id for m in members if m.location_id})
    skus = sorted({m.sku for m in members if m.sku})
    feeds = sorted({m.feed for m in members if m.feed})
    cause, action = _root_cause(members, facts)
    where = (
        f" at {len(locations)} location(s)"
        if len(locations) > 1
        else (f" at {locations[0]}" if locations else "")
    )
    on = f" on {', '.join(feeds)}" if feeds else ""
    summary = (
        f"{len(members)} open {'/'.join(types)} exception(s){where}{on}"
        + (f" for {len(skus)} sku(s)" if skus else "")
        + f": likely {cause}."
    )
    first_seen = min((m.first_seen_at for m in members if m.first_seen_at), default=None)
    cluster_id = hashlib.md5("|".join(ids).encode()).hexdigest()
    parameters = json.dumps(
        {"distance_threshold": DISTANCE_THRESHOLD, "linkage": "average", "version": MODEL_VERSION}
    )
    return (
        cluster_id,
        team,
        types,
        len(members),
        locations,
        skus,
        first_seen,
        cause,
        summary,
        action.capitalize() + ".",
        MODEL,
        parameters,
    )
