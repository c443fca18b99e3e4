"""File-arrival sensors (one per source) and the schedules of the ingestion area.

A sensor lists its source's folder, keeps a cursor of the newest inode-change time it has
seen (a writer's final rename sets it, so late renames of old files are still noticed), asks
the ledger which of the new files are still pending, and requests one run for all of them.
The ingestion asset itself loads every pending file, so a file a sensor misses is picked up by
the next run or by the sweep schedule.
"""

import hashlib
import json
import os
from dataclasses import dataclass

import dagster as dg
import psycopg

from orchestration.defs.ingestion.assets import UNROUTED_KEY, raw_asset_key
from orchestration.defs.resources import Warehouse
from orchestration.lib.feeds import FEEDS, SOURCES, feeds_of
from orchestration.lib.landing import LandingFile, scan
from orchestration.lib.loader import pending_files

DEFAULT_SENSOR_INTERVAL_SECONDS = 15


def sensor_interval_seconds() -> int:
    """Minimum seconds between sensor ticks; OMNI_SENSOR_INTERVAL_SECONDS overrides the default."""
    return int(os.environ.get("OMNI_SENSOR_INTERVAL_SECONDS", DEFAULT_SENSOR_INTERVAL_SECONDS))


@dataclass(frozen=True)
class ArrivalCursor:
    """Newest inode-change time seen, and the files seen at exactly that time."""

    ctime_ns: int = 0
    paths_at_ctime: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str | None) -> "ArrivalCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data["ctime_ns"]), tuple(data["paths_at_ctime"]))

    def serialize(self) -> str:
        return json.dumps({"ctime_ns": self.ctime_ns, "paths_at_ctime": list(self.paths_at_ctime)})

    def is_new(self, item: LandingFile) -> bool:
        return item.ctime_ns > self.ctime_ns or (
            item.ctime_ns == self.ctime_ns and item.relative not in self.paths_at_ctime
        )

    def advanced(self, items: list[LandingFile]) -> "ArrivalCursor":
        if not items:
            return self
        newest = max(item.ctime_ns for item in items)
        if newest < self.ctime_ns:
            return self
        at_newest = {i.relative for i in items if i.ctime_ns == newest}
        if newest == self.ctime_ns:
            at_newest |= set(self.paths_at_ctime)
        return ArrivalCursor(newest, tuple(sorted(at_newest)))


def microbatch_job_name(source: str) -> str:
    return f"{source}_microbatch"


def build_file_arrival_sensor(source: str) -> dg.SensorDefinition:
    source_keys = [raw_asset_key(feed) for feed in feeds_of(source)]
    selection = dg.AssetSelection.assets(*source_keys).downstream()

    @dg.sensor(
        name=f"{source}_file_arrival",
        minimum_interval_seconds=sensor_interval_seconds(),
        asset_selection=selection,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launches a micro-batch run when new files land under {source}/.",
    )
    def _sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        cursor = ArrivalCursor.parse(context.cursor)
        arrived = [f for f in scan(warehouse.landing_dir(), (source,)) if cursor.is_new(f)]
        if not arrived:
            return dg.SensorResult(skip_reason=f"no new files under {source}/")
        with psycopg.connect(warehouse.url()) as conn:
            arrived_paths = {f.relative for f in arrived}
            pending = [
                f
                for f in pending_files(conn, warehouse.landing_dir(), sources=(source,))
                if f.relative in arrived_paths
            ]
        next_cursor = cursor.advanced(arrived).serialize()
        if not pending:
            return dg.SensorResult(skip_reason="new files were already loaded", cursor=next_cursor)
        feed_keys = sorted({raw_asset_key(f.feed) for f in pending if f.feed}, key=str) or [
            *source_keys[:1]  # misplaced files only: the source's first feed asset quarantines them
        ]
        keys = dg.AssetSelection.assets(*feed_keys).downstream().resolve(context.repository_def.asset_graph)
        batch = sorted(f.relative for f in pending)
        run_key = hashlib.sha256("\n".join(batch).encode()).hexdigest()[:20]
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{source}:{run_key}",
                    asset_selection=sorted(keys, key=str),
                    tags={"omni/source": source, "omni/files": str(len(batch))},
                )
            ],
            cursor=next_cursor,
        )

    return _sensor


FILE_ARRIVAL_SENSORS = [build_file_arrival_sensor(source) for source in SOURCES]

ERP_MASTER_FEEDS = ("erp/items", "erp/locations", "erp/stock_policy", "erp/channel_policy")

erp_master_job = dg.define_asset_job(
    "erp_master_refresh",
    selection=dg.AssetSelection.assets(
        *(raw_asset_key(f) for f in FEEDS if f.feed_id in ERP_MASTER_FEEDS)
    ).downstream(),
    description="Reload ERP master and policy feeds and rebuild everything that depends on them.",
    executor_def=dg.in_process_executor,
)

landing_sweep_job = dg.define_asset_job(
    "landing_sweep",
    selection=dg.AssetSelection.assets(*(raw_asset_key(f) for f in FEEDS), UNROUTED_KEY).downstream(),
    description="Catch-all: load anything pending in the whole landing zone and rebuild downstream.",
    executor_def=dg.in_process_executor,
)

INGESTION_SCHEDULES = [
    dg.ScheduleDefinition(
        name="erp_master_hourly",
        job=erp_master_job,
        cron_schedule="0 * * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="ERP masters and policies arrive on the ERP's own clock; refresh them hourly.",
    ),
    dg.ScheduleDefinition(
        name="landing_sweep_every_30_minutes",
        job=landing_sweep_job,
        cron_schedule="*/30 * * * *",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Sweep the whole landing zone, including files no sensor watches (unknown folders).",
    ),
]
