"""The landing-zone sensor and the schedules of the ingestion area.

One sensor watches the whole landing zone. Each tick lists it, keeps a cursor of the newest
inode-change time it has seen (a writer's final rename sets it, so late renames of old files are
still noticed), asks the ledger which of the new files are still pending, and requests one run
for all of them: the feeds that received files and everything downstream of them. One run per
tick, not one per source: every run is a new process that pays seconds of start-up, and the dbt
builds of concurrent runs queue on one lock, so a batch spread over several sources would
otherwise wait for several runs. The ingestion assets load every pending file of their feeds,
so a file the sensor misses is picked up by the next run or by the sweep schedule.
"""

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass

import dagster as dg
import psycopg

from orchestration.defs.ingestion.assets import UNROUTED_KEY, raw_asset_key
from orchestration.defs.resources import Warehouse
from orchestration.lib.feeds import FEEDS
from orchestration.lib.landing import LandingFile, scan
from orchestration.lib.loader import pending_files

LANDING_SENSOR = "landing_zone_arrival"
# Dagster's sensor daemon looks at its sensors once per loop of about 5 s, and evaluates a sensor
# only if its minimum interval has passed since its last tick. An interval of 5 s itself made
# the daemon skip every other loop whenever a loop came a few milliseconds early (file landed ->
# run created: up to 10 s, median 6.7 s in benchmarks.scale); under 5 s, every loop evaluates it.
# The sensor itself is a listing and one query.
DEFAULT_SENSOR_INTERVAL_SECONDS = 3
# What the sensor and the sweep may run: every feed, the unrouted files, and all downstream (but
# the bookkeeping tables that steps write on the side: defs/bookkeeping.py).
LANDING_SELECTION = (
    dg.AssetSelection.assets(*(raw_asset_key(f) for f in FEEDS), UNROUTED_KEY).downstream().materializable()
)


def sensor_interval_seconds() -> int:
    """Minimum seconds between sensor ticks; OMNI_SENSOR_INTERVAL_SECONDS overrides the default."""
    return int(os.environ.get("OMNI_SENSOR_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL_SECONDS))


# A file that lands while a tick scans may sit in a folder the scan has already passed, with an
# inode-change time older than files the scan finds later: a cursor at the newest time seen would
# pass over it for good. So the cursor settles only up to the scan's start, less a margin for the
# file system's coarse clock, and remembers the files it has seen since then.
SETTLE_MARGIN_NS = 10 * 10**9


@dataclass(frozen=True)
class ArrivalCursor:
    """Files changed up to `settled_ns` are handled; of the later ones, the (path, ctime) seen."""

    settled_ns: int = 0
    recent: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> "ArrivalCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        if "ctime_ns" in data:  # the cursor of earlier versions: the newest time and its files
            newest = int(data["ctime_ns"])
            return cls(newest - 1, tuple((path, newest) for path in data["paths_at_ctime"]))
        return cls(int(data["settled_ns"]), tuple((path, int(ctime)) for path, ctime in data["recent"]))

    def serialize(self) -> str:
        return json.dumps({"settled_ns": self.settled_ns, "recent": [list(pair) for pair in self.recent]})

    def is_new(self, item: LandingFile) -> bool:
        return item.ctime_ns > self.settled_ns and (item.relative, item.ctime_ns) not in self.recent

    def advanced(self, seen: list[LandingFile], scan_started_ns: int) -> "ArrivalCursor":
        settled = max(self.settled_ns, scan_started_ns - SETTLE_MARGIN_NS)
        recent = {pair for pair in self.recent if pair[1] > settled}
        recent |= {(item.relative, item.ctime_ns) for item in seen if item.ctime_ns > settled}
        return ArrivalCursor(settled, tuple(sorted(recent)))


def batch_run_request(pending: list[LandingFile], repository: dg.RepositoryDefinition) -> dg.RunRequest:
    """One run for `pending`: the feeds that received files (the unrouted-files asset for files of no
    feed, which it quarantines) and everything downstream; the tags say which sources, feeds and how
    many files, and the run key is the batch itself, so a batch is requested once."""
    keys = {raw_asset_key(f.feed) if f.feed else UNROUTED_KEY for f in pending}
    selected = dg.AssetSelection.assets(*keys).downstream().materializable().resolve(repository.asset_graph)
    batch = sorted(f.relative for f in pending)
    return dg.RunRequest(
        run_key=hashlib.sha256("\n".join(batch).encode()).hexdigest()[:20],
        asset_selection=sorted(selected, key=str),
        tags={
            "omni/sources": ",".join(sorted({f.source or "unrouted" for f in pending})),
            "omni/feeds": ",".join(sorted({f.feed_id or "unrouted" for f in pending})),
            "omni/files": str(len(batch)),
        },
    )


# The sensor's runs, by name in the Runs list (each selects its batch's feeds and downstream).
micro_batch_job = dg.define_asset_job(
    "landing_micro_batch",
    selection=LANDING_SELECTION,
    description="One micro-batch: the feeds that received files since the last tick, and everything "
    "downstream of them (requested by the landing_zone_arrival sensor).",
    executor_def=dg.in_process_executor,
    # The run's console (the dev log) shows INFO and up: Dagster's DEBUG line per event drowned it.
    # Every event is still in the run's log in the UI.
    config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
)


@dg.sensor(
    name=LANDING_SENSOR,
    minimum_interval_seconds=sensor_interval_seconds(),
    job=micro_batch_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Launches one micro-batch run for every new file in the landing zone: the feeds that "
    "received files and everything downstream of them.",
)
def landing_zone_arrival(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
    cursor = ArrivalCursor.parse(context.cursor)
    landing = warehouse.landing_dir()
    scan_started_ns = time.time_ns()
    arrived = [f for f in scan(landing) if cursor.is_new(f)]
    if not arrived:
        return dg.SensorResult(skip_reason="no new files in the landing zone")
    arrived_paths = {f.relative for f in arrived}
    with psycopg.connect(warehouse.url()) as conn:
        pending = [f for f in pending_files(conn, landing) if f.relative in arrived_paths]
    next_cursor = cursor.advanced(arrived, scan_started_ns).serialize()
    if not pending:
        return dg.SensorResult(skip_reason="new files were already loaded", cursor=next_cursor)
    per_feed = Counter(f.feed_id or "unrouted" for f in pending)
    context.log.info(", ".join(f"{feed}: {count}" for feed, count in sorted(per_feed.items())))
    # Dagster evaluates a sensor within its code location's repository; only a bare test context has none.
    assert context.repository_def is not None, "the sensor needs its repository to resolve the selection"
    return dg.SensorResult(
        run_requests=[batch_run_request(pending, context.repository_def)], cursor=next_cursor
    )


ERP_MASTER_FEEDS = ("erp/items", "erp/locations", "erp/stock_policy", "erp/channel_policy")

erp_master_job = dg.define_asset_job(
    "erp_master_refresh",
    selection=dg.AssetSelection.assets(*(raw_asset_key(f) for f in FEEDS if f.feed_id in ERP_MASTER_FEEDS))
    .downstream()
    .materializable(),
    description="Reload ERP master and policy feeds and rebuild everything that depends on them.",
    executor_def=dg.in_process_executor,
)

landing_sweep_job = dg.define_asset_job(
    "landing_sweep",
    selection=LANDING_SELECTION,
    description="Catch-all: load anything pending in the whole landing zone and rebuild downstream.",
    executor_def=dg.in_process_executor,
)


def _pending_of(warehouse: Warehouse, feed_ids: tuple[str, ...] | None) -> list[LandingFile]:
    """Files not yet in the ledger (of these feeds; None: the whole landing zone)."""
    landing = warehouse.landing_dir()
    if not landing.is_dir():
        return []
    with psycopg.connect(warehouse.url()) as conn:
        pending = pending_files(conn, landing, feed_ids=feed_ids, include_unrouted=feed_ids is None)
    return [f for f in pending if feed_ids is None or f.feed_id in feed_ids]


def _run_if_pending(
    context: dg.ScheduleEvaluationContext, warehouse: Warehouse, feed_ids: tuple[str, ...] | None
) -> dg.RunRequest | dg.SkipReason:
    """A schedule's run only when it has something to load: an empty run still ran every step."""
    pending = _pending_of(warehouse, feed_ids)
    if not pending:
        return dg.SkipReason(
            "nothing pending in the landing zone" + (f" for {', '.join(feed_ids)}" if feed_ids else "")
        )
    return dg.RunRequest(tags={"omni/files": str(len(pending))})


@dg.schedule(
    name="erp_master_hourly",
    job=erp_master_job,
    cron_schedule="0 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="ERP masters and policies arrive on the ERP's own clock; refresh them hourly when "
    "files of theirs are pending.",
)
def erp_master_hourly(context: dg.ScheduleEvaluationContext, warehouse: Warehouse):
    return _run_if_pending(context, warehouse, ERP_MASTER_FEEDS)


@dg.schedule(
    name="landing_sweep_every_30_minutes",
    job=landing_sweep_job,
    cron_schedule="*/30 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Sweep the whole landing zone: whatever is still pending (the sensor was off, a run "
    "failed); skipped when nothing is.",
)
def landing_sweep_every_30_minutes(context: dg.ScheduleEvaluationContext, warehouse: Warehouse):
    return _run_if_pending(context, warehouse, None)


INGESTION_SCHEDULES = [erp_master_hourly, landing_sweep_every_30_minutes]
