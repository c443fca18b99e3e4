"""Book against physical per location and day, kept per day in ai.count_variance_locations.

RECURRING_COUNT_VARIANCE reads the last book of each day against the last count of the day for
every location of its window. Recomputing that over the raw snapshots on every run cost 7.5 s
at the default scale (604,000 location-skus), most of a micro-batch that had loaded no snapshot
at all. A day's figures depend only on that day's snapshot rows up to as_of and on unit costs.
So each day is computed once, and again only when a file of the three snapshot feeds loaded since
holds rows of that day, when the item master is loaded again, when as_of moved past a snapshot of
the day, or when the query's version changes (docs/ai.md, "Cost").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import psycopg

from orchestration.lib.ai.schema import AI_SCHEMA

# The feeds whose rows the figures read: books, till counts, the warehouse's stock, unit costs.
SNAPSHOT_FEEDS = ("erp/book_inventory", "pos/inventory", "wms/inventory")
COST_FEED = "erp/items"
# Bump when DAY_FIGURES_SQL changes what it computes: every cached day is then recomputed.
QUERY_VERSION = 1
# Sorting a day's snapshots (a row per location-sku) spilled to disk at the default 4 MB; the
# setting is local to the refresh's transaction.
SORT_MEMORY = "256MB"

# A snapshot's day is the day it closes: one taken at midnight closes the day before (so does
# the ERP's book). Counts are till counts for stores and the warehouse's stock in every status for
# DCs. %(first)s and %(last)s bound the days computed, %(days)s lists them, and nothing after
# %(as_of)s is read.
DAY_FIGURES_SQL = """
with bounds as (
    select (%(first)s::date)::timestamp at time zone 'UTC' as low,
           least((%(last)s::date + 1)::timestamp at time zone 'UTC', %(as_of)s::timestamptz) as high
),
books as (
    select distinct on (location_id, sku, (snapshot_ts at time zone 'UTC' - interval '1 microsecond')::date)
        location_id, sku, (snapshot_ts at time zone 'UTC' - interval '1 microsecond')::date as day, book_qty
    from raw.erp__book_inventory, bounds
    where snapshot_ts > bounds.low and snapshot_ts <= bounds.high
    order by location_id, sku, 3, snapshot_ts desc, _load_id desc, _row_number desc
),
till_counts as (
    select distinct on (location_id, sku, (snapshot_ts at time zone 'UTC' - interval '1 microsecond')::date)
        location_id, sku, (snapshot_ts at time zone 'UTC' - interval '1 microsecond')::date as day,
        on_hand::bigint as physical
    from raw.pos__inventory, bounds
    where snapshot_ts > bounds.low and snapshot_ts <= bounds.high
    order by location_id, sku, 3, snapshot_ts desc, _load_id desc
),
warehouse_snapshots as (
    select location_id, (snapshot_ts at time zone 'UTC' - interval '1 microsecond')::date as day,
           max(snapshot_ts) as snapshot_ts
    from raw.wms__inventory, bounds
    where snapshot_ts > bounds.low and snapshot_ts <= bounds.high
    group by 1, 2
),
warehouse_counts as (
    select w.location_id, w.sku, s.day, sum(w.qty)::bigint as physical
    from raw.wms__inventory as w
    join warehouse_snapshots as s using (location_id, snapshot_ts)
    group by 1, 2, 3
),
counts as (
    select * from till_counts union all select * from warehouse_counts
)
select b.day, b.location_id, count(*) as skus,
       count(*) filter (where b.book_qty <> c.physical) as skus_with_variance,
       count(*) filter (where b.book_qty > c.physical) as skus_book_above,
       coalesce(sum(abs(b.book_qty - c.physical) * i.unit_cost), 0)::float as variance_value,
       min(i.currency) as currency
from books as b
join counts as c using (location_id, sku, day)
left join staging.stg_erp__items as i using (sku)
where b.day = any(%(days)s)
group by 1, 2
"""

# The files of those feeds that the cached figures do not include yet, with their data ranges.
NEW_LOADS_SQL = f"""
select l.load_id, l.feed, l.min_data_ts, l.max_data_ts
from meta.file_ledger as l
where l.status = 'loaded' and l.feed = any(%(feeds)s)
  and not exists (select 1 from {AI_SCHEMA}.count_variance_loads as c where c.load_id = l.load_id)
"""


def window_days(as_of: datetime, days: int) -> tuple[date, date]:
    """The first and last day of the `days` days that end with the day as_of closes."""
    last = (as_of.astimezone(UTC) - timedelta(microseconds=1)).date()
    return last - timedelta(days=days - 1), last


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """A day holds the snapshots taken after its midnight up to and including the next one."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def _cut(day: date, as_of: datetime) -> datetime:
    """The newest snapshot a day's figures read: the day's end, or as_of in the day as_of closes."""
    return min(_day_bounds(day)[1], as_of)


def _touches(oldest: datetime | None, newest: datetime | None, low: datetime, high: datetime) -> bool:
    """Whether a file's data range meets (low, high]; a file with no known range meets everything."""
    return (oldest is None or oldest <= high) and (newest is None or newest > low)


def _snapshots_between(conn: psycopg.Connection, one: datetime, other: datetime) -> bool:
    """Whether a loaded file of the snapshot feeds may hold rows between two instants."""
    row = conn.execute(
        "select exists (select 1 from meta.file_ledger where status = 'loaded' and feed = any(%s)"
        " and coalesce(min_data_ts <= %s, true) and coalesce(max_data_ts > %s, true))",
        (list(SNAPSHOT_FEEDS), max(one, other), min(one, other)),
    ).fetchone()
    return bool(row and row[0])


def stale_days(
    conn: psycopg.Connection, as_of: datetime, first: date, last: date, new_loads: list[tuple]
) -> list[date]:
    """The window's days to compute: never computed (or by another QUERY_VERSION), touched by a
    new file (a new item master touches them all), or computed up to another as_of with snapshot
    files between the two (as_of moves with every sale, snapshots come a few times a day)."""
    computed: dict[date, datetime] = dict(
        conn.execute(
            f"select day, cut from {AI_SCHEMA}.count_variance_days where day between %s and %s and query_version = %s",
            (first, last, QUERY_VERSION),
        ).fetchall()
    )
    stale = []
    for day in (first + timedelta(days=n) for n in range((last - first).days + 1)):
        start, cut = _day_bounds(day)[0], _cut(day, as_of)
        touched = any(
            feed == COST_FEED or _touches(oldest, newest, start, cut) for _, feed, oldest, newest in new_loads
        )
        if (
            day not in computed
            or touched
            or (computed[day] != cut and _snapshots_between(conn, computed[day], cut))
        ):
            stale.append(day)
    return stale


def refresh_day_figures(conn: psycopg.Connection, as_of: datetime, days: int) -> list[date]:
    """Recompute the window's stale days into ai.count_variance_locations; returns the days computed.

    The files taken into account are listed by id (ai.count_variance_loads), not by a high-water
    mark: a load's id is drawn when it starts, so a file with a lower id can commit later."""
    first, last = window_days(as_of, days)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ai_count_variance'))")
        new_loads = conn.execute(NEW_LOADS_SQL, {"feeds": [*SNAPSHOT_FEEDS, COST_FEED]}).fetchall()
        stale = stale_days(conn, as_of, first, last, new_loads)
        if stale:
            conn.execute(f"set local work_mem = '{SORT_MEMORY}'")
            conn.execute(f"delete from {AI_SCHEMA}.count_variance_locations where day = any(%s)", (stale,))
            conn.execute(
                f"insert into {AI_SCHEMA}.count_variance_locations (day, location_id, skus, skus_with_variance,"
                " skus_book_above, variance_value, currency) " + DAY_FIGURES_SQL,
                {"first": stale[0], "last": stale[-1], "days": stale, "as_of": as_of},
            )
            conn.execute(
                f"insert into {AI_SCHEMA}.count_variance_days (day, cut, query_version, computed_at)"
                " select unnest(%s::date[]), unnest(%s::timestamptz[]), %s, clock_timestamp()"
                " on conflict (day) do update set cut = excluded.cut, query_version = excluded.query_version,"
                " computed_at = excluded.computed_at",
                (stale, [_cut(day, as_of) for day in stale], QUERY_VERSION),
            )
        conn.execute(
            f"insert into {AI_SCHEMA}.count_variance_loads (load_id) select unnest(%s::bigint[])"
            " on conflict do nothing",
            ([row[0] for row in new_loads],),
        )
        # Days that left the window are not read again.
        conn.execute(f"delete from {AI_SCHEMA}.count_variance_locations where day < %s", (first,))
        conn.execute(f"delete from {AI_SCHEMA}.count_variance_days where day < %s", (first,))
    return stale


def day_figures(conn: psycopg.Connection, as_of: datetime, days: int) -> list[tuple]:
    """(location_id, day, skus, skus_with_variance, skus_book_above, variance_value, currency) for
    every location and day of the window, refreshed where stale."""
    refresh_day_figures(conn, as_of, days)
    first, last = window_days(as_of, days)
    return conn.execute(
        f"select location_id, day, skus, skus_with_variance, skus_book_above, variance_value, currency"
        f" from {AI_SCHEMA}.count_variance_locations where day between %s and %s order by day, location_id",
        (first, last),
    ).fetchall()
