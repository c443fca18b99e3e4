"""ai.anomalies: three detectors over the canonical state's history (docs/ai.md).

Each reads its history with one aggregate query (set work in the database) and scores it in
Python with a robust baseline (statsmodels' MAD, robust.py): against its own days and against
its peers. benchmarks/ai.py compares it with a mean/std z-score and with the robust score
against its own days only, on the same injected faults (docs/ai.md "Figures"). Everything is in data time (as_of), so the same files give the same
anomalies, with the same ids. Nothing here changes a figure: it flags and explains.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import psycopg

from orchestration.lib.ai.count_variance import day_figures
from orchestration.lib.ai.robust import robust_z, score_of
from orchestration.lib.ai.schema import AI_SCHEMA, MODEL_VERSION, ensure_ai_schema

HISTORY_DAYS = 28


@dataclass(frozen=True)
class Parameters:
    """The thresholds of the detectors (recorded on every row)."""

    spike_own_z: float = 4.0  # newest day against the channel-sku's own days
    spike_peer_z: float = 3.0  # its rise against the rise of the channel's other skus
    spike_min_units: int = 5  # below this, a "spike" is noise
    spike_min_history_days: int = 7
    variance_days: int = 5  # recent days of books examined
    variance_recurring_days: int = 3  # flagged on at least this many of them
    variance_peer_z: float = 3.0
    # The peers' spread of variance rates is never taken below this many skus' share of the
    # location's counted skus (None: a flat 5 %, which hides a few skus in a big assortment).
    variance_min_spread_skus: float | None = 1.0
    variance_min_skus: int = 2
    movement_own_z: float = 4.0
    movement_peer_z: float = 3.0
    movement_min_units: int = 5
    baseline: str = "mad"  # "mad" (median, MAD) or "std" (mean, std: benchmarks/ai.py's baseline)


@dataclass
class Anomaly:
    anomaly_type: str
    window_start: datetime
    window_end: datetime
    observed: float
    expected: float
    score: float
    explanation: str
    model: str
    parameters: dict = field(default_factory=dict)
    location_id: str | None = None
    channel_id: str | None = None
    sku: str | None = None
    # What the finding puts at stake, in the currency: the queue ranks anomalies by it.
    value_at_risk: float | None = None

    @property
    def anomaly_id(self) -> str:
        key = "|".join(
            [
                self.anomaly_type,
                self.location_id or "",
                self.channel_id or "",
                self.sku or "",
                self.window_start.isoformat(),
            ]
        )
        return hashlib.md5(key.encode()).hexdigest()


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _money(value: float, currency: str | None) -> str:
    return f"{currency or ''} {value:,.0f}".strip()


DEMAND_SQL = """
select o.channel_id, o.sku, floor(extract(epoch from %(as_of)s - o.event_ts) / 86400)::int as age_days,
       sum(o.order_qty)::float as units, max(i.unit_cost)::float as unit_cost
from staging.stg_channel__orders as o
left join staging.stg_erp__items as i using (sku)
where o.order_status = 'accepted' and o.event_ts > %(as_of)s - interval '28 days' and o.event_ts <= %(as_of)s
group by 1, 2, 3
"""


def demand_spikes(conn: psycopg.Connection, as_of: datetime, p: Parameters) -> list[Anomaly]:
    """DEMAND_SPIKE: a channel-sku whose units ordered on the newest day stand far above its own
    days before and above how the channel's other skus rose."""
    # Days are the trailing 24-hour windows before as_of (0 = the newest), not calendar dates:
    # a build at midnight still has a full newest day.
    newest = as_of - timedelta(days=1)
    series: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    unit_costs: dict[str, float] = {}
    for channel_id, sku, age, units, unit_cost in conn.execute(DEMAND_SQL, {"as_of": as_of}).fetchall():
        series[(channel_id, sku)][age] = units
        unit_costs[sku] = unit_cost or 0.0
    rises: dict[str, list[float]] = defaultdict(list)
    candidates = []
    # A sku without orders on a day sold 0 that day: its history spans the channel's days, not
    # only the days it sold.
    channel_oldest: dict[str, int] = defaultdict(int)
    for (channel_id, _), by_age in series.items():
        channel_oldest[channel_id] = max(channel_oldest[channel_id], max(by_age))
    for (channel_id, sku), by_age in series.items():
        history = np.array([by_age.get(age, 0.0) for age in range(1, channel_oldest[channel_id] + 1)])
        today = by_age.get(0, 0.0)
        median = float(np.median(history)) if history.size else 0.0
        rises[channel_id].append(today / (median + 1.0))
        if history.size >= p.spike_min_history_days and today >= p.spike_min_units:
            candidates.append((channel_id, sku, today, history))
    found = []
    for channel_id, sku, today, history in candidates:
        own_z, median = robust_z(today, history, method=p.baseline)
        peer_z, _ = robust_z(
            today / (median + 1.0), np.array(rises[channel_id]), min_spread=0.5, method=p.baseline
        )
        if own_z >= p.spike_own_z and peer_z >= p.spike_peer_z:
            factor = today / max(median, 1.0)
            found.append(
                Anomaly(
                    "DEMAND_SPIKE",
                    newest,
                    as_of,
                    today,
                    median,
                    score_of(min(own_z / p.spike_own_z, peer_z / p.spike_peer_z), 1.0),
                    f"{channel_id} / {sku}: {today:.0f} units ordered in the 24 h to {as_of:%d %b %H:%M}, {factor:.1f}x its usual "
                    f"{median:.0f} a day and far above the channel's other skus; consider a temporary "
                    "reservation policy before it oversells (see ai.policy_suggestions).",
                    "robust_z_mad",
                    {"own_z": round(own_z, 2), "peer_z": round(peer_z, 2)},
                    channel_id=channel_id,
                    sku=sku,
                    value_at_risk=round((today - median) * unit_costs[sku], 2),
                )
            )
    return found


def recurring_count_variances(conn: psycopg.Connection, as_of: datetime, p: Parameters) -> list[Anomaly]:
    """RECURRING_COUNT_VARIANCE: a location whose books disagree with its counts on several of its
    recent days, far more than other locations' do on the same days."""
    rows = day_figures(conn, as_of, p.variance_days)  # kept per day (count_variance.py)
    by_day: dict[date, dict[str, tuple]] = defaultdict(dict)
    for location_id, day, skus, variant, above, value, currency in rows:
        by_day[day][location_id] = (variant / skus, skus, variant, above, value, currency)
    flagged: dict[str, list[tuple]] = defaultdict(list)
    for day, locations in by_day.items():
        rates = np.array([v[0] for v in locations.values()])
        for location_id, (rate, counted, variant, above, value, currency) in locations.items():
            floor = p.variance_min_spread_skus / counted if p.variance_min_spread_skus else 0.05
            z, median = robust_z(rate, rates, min_spread=floor, method=p.baseline)
            if variant >= p.variance_min_skus and z >= p.variance_peer_z:
                flagged[location_id].append((day, rate, median, variant, above, value, currency, z))
    found = []
    days_seen = len(by_day)
    for location_id, days in flagged.items():
        if len(days) < p.variance_recurring_days:
            continue
        days.sort()
        skus = max(d[3] for d in days)
        above = sum(1 for d in days if d[4] * 2 > d[3])
        value = float(np.mean([d[5] for d in days]))
        rate, peers = float(np.mean([d[1] for d in days])), float(np.mean([d[2] for d in days]))
        direction = "book above count" if above * 2 >= len(days) else "count above book"
        found.append(
            Anomaly(
                "RECURRING_COUNT_VARIANCE",
                _day_start(days[0][0]),
                as_of,
                round(rate, 4),
                round(peers, 4),
                score_of(len(days) / p.variance_recurring_days, 1.0),
                f"{location_id}: {direction} on {len(days)} of the last {days_seen} days for up to {skus} skus "
                f"({_money(value, days[0][6])} a day); recount and check receiving at this location before the "
                "next promotion relies on its stock.",
                "robust_z_mad",
                {"days_flagged": len(days), "days_seen": days_seen, "mean_peer_rate": round(peers, 4)},
                location_id=location_id,
                value_at_risk=round(days[-1][5], 2),  # the newest day's gap between book and count
            )
        )
    return found


MOVEMENT_SQL = """
select location_id, floor(extract(epoch from %(as_of)s - event_ts) / 86400)::int as age_days,
       coalesce(sum(-qty_change) filter (where movement_type = 'adjustment' and qty_change < 0), 0)::float as shrink,
       coalesce(sum(qty_change) filter (where movement_type = 'adjustment' and qty_change > 0), 0)::float as found,
       coalesce(sum(abs(qty_change)) filter (where movement_type = 'damage'), 0)::float as damaged,
       coalesce(sum(abs(qty_change) * i.unit_cost), 0)::float as moved_value
from staging.stg_wms__movements as m
left join staging.stg_erp__items as i using (sku)
where event_ts > %(as_of)s - interval '28 days' and event_ts <= %(as_of)s
  and movement_type in ('adjustment', 'damage')
group by 1, 2
"""


def movement_anomalies(conn: psycopg.Connection, as_of: datetime, p: Parameters) -> list[Anomaly]:
    """MOVEMENT_ANOMALY: a location whose adjustments, damages or shrink on the newest day are unusual
    against its own days and against its peers' days."""
    newest = as_of - timedelta(days=1)  # trailing 24-hour windows, as for demand
    rows = conn.execute(MOVEMENT_SQL, {"as_of": as_of}).fetchall()
    own: dict[str, list[float]] = defaultdict(list)
    today: dict[str, tuple[float, float, float, float]] = {}
    values: dict[str, float] = {}
    for location_id, age, shrink, found_units, damaged, moved_value in rows:
        total = shrink + found_units + damaged
        if age == 0:
            today[location_id] = (shrink, found_units, damaged, total)
            values[location_id] = moved_value
        else:
            own[location_id].append(total)
    anomalies = []
    for location_id, (shrink, found_units, damaged, total) in today.items():
        if total < p.movement_min_units:
            continue
        own_z, median = robust_z(total, np.array(own[location_id] or [0.0]), method=p.baseline)
        # Its peers: every day of the other locations (their newest day alone is too few values
        # when a retailer has a handful of DCs). Without peers, its own history decides.
        peers = np.array(
            [v for other, days in own.items() if other != location_id for v in days]
            + [t[3] for other, t in today.items() if other != location_id]
        )
        peer_z = robust_z(total, peers, method=p.baseline)[0] if peers.size else p.movement_peer_z
        if own_z < p.movement_own_z or peer_z < p.movement_peer_z:
            continue
        parts = [
            f"{v:.0f} {name}"
            for v, name in ((shrink, "shrunk"), (damaged, "damaged"), (found_units, "found"))
            if v
        ]
        anomalies.append(
            Anomaly(
                "MOVEMENT_ANOMALY",
                newest,
                as_of,
                total,
                median,
                score_of(min(own_z / p.movement_own_z, peer_z / p.movement_peer_z), 1.0),
                f"{location_id}: {', '.join(parts)} units in adjustments in the 24 h to {as_of:%d %b %H:%M}, against a usual "
                f"{median:.0f} a day here and at its peers; check the adjustments' references with the "
                "site before they reach the ledger's close.",
                "robust_z_mad",
                {"own_z": round(own_z, 2), "peer_z": round(peer_z, 2)},
                location_id=location_id,
                value_at_risk=round(values[location_id], 2),
            )
        )
    return anomalies


DETECTORS = (demand_spikes, recurring_count_variances, movement_anomalies)


def detect(conn: psycopg.Connection, as_of: datetime, p: Parameters | None = None) -> list[Anomaly]:
    p = p or Parameters()
    found: list[Anomaly] = []
    for detector in DETECTORS:
        found.extend(detector(conn, as_of, p))
    return found


def store_anomalies(url: str, as_of: datetime | None, p: Parameters | None = None) -> dict[str, int]:
    """Detect and upsert; anomalies no longer found resolve. Returns counts by type (open)."""
    p = p or Parameters()
    with psycopg.connect(url) as conn:
        ensure_ai_schema(conn)
        if as_of is None:
            return {}
        found = detect(conn, as_of, p)
        rows = [
            (a.anomaly_id, a.anomaly_type, a.location_id, a.channel_id, a.sku, a.window_start, a.window_end, a.observed,
             a.expected, a.score, a.explanation, a.model, MODEL_VERSION,
             json.dumps({**p.__dict__, **a.parameters}), as_of, a.value_at_risk)
            for a in found
        ]  # fmt: skip
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('omni.ai_anomalies'))")
            conn.execute(
                f"update {AI_SCHEMA}.anomalies set status = 'resolved' where status = 'open' and anomaly_id <> all(%s)",
                ([a.anomaly_id for a in found],),
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"insert into {AI_SCHEMA}.anomalies (anomaly_id, anomaly_type, location_id, channel_id, sku,"
                    " window_start, window_end, observed, expected, score, explanation, model, model_version,"
                    " parameters, detected_at, value_at_risk, status) values"
                    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'open')"
                    " on conflict (anomaly_id) do update set status = 'open', observed = excluded.observed,"
                    " expected = excluded.expected, score = excluded.score, explanation = excluded.explanation,"
                    " window_end = excluded.window_end, parameters = excluded.parameters,"
                    " value_at_risk = excluded.value_at_risk"
                    # the same finding on the same data rewrites nothing
                    " where (anomalies.status, anomalies.observed, anomalies.score, anomalies.window_end,"
                    " anomalies.value_at_risk) is distinct from"
                    " ('open', excluded.observed, excluded.score, excluded.window_end, excluded.value_at_risk)",
                    rows,
                )
    counts: dict[str, int] = defaultdict(int)
    for a in found:
        counts[a.anomaly_type] += 1
    return dict(counts)
