"""The platform at scale against the bare database limit, in one run (issue: benchmarks and scale).

    .venv/bin/python -m benchmarks.scale [--stores 300 --dcs 2 --skus 20000] [--batches 10]
        [--growth 1,2,4] [--growth-stores 30] [--growth-batches 5] [--sensor-interval 3]
        [--skip bare,latency,growth] [--latency-only] [--json benchmarks/results/scale.json]

The defaults are the seed's scale (300 stores x 20,000 skus = 6 million positions, 4 channels, one
simulated day plus the next day's batches); that takes hours on 2 cores, so pass smaller
`--stores/--skus` for a quick look. What it measures, each figure with the peak memory of its step:

1. bare limit: PostgreSQL COPY of the day's CSV files into unlogged tables of the same columns,
   and one `CREATE TABLE AS` aggregate over the store counts;
2. full pipeline: `omni-inventory run` on the day (ingest, dbt, Great Expectations, exceptions,
   replenishment and finance), each Dagster step timed from the run's event log (GX: the checks'
   steps and the validation inside the exceptions asset's step); ingest
   throughput as a ratio to bare COPY, the dbt build against the aggregate;
3. micro-batch latency: a `dagster-daemon` runs the landing-zone sensor (the schedules are
   stopped, so that no sweep lands in a batch); the next day's 15-minute marketplace listings (and
   the 30-minute store sales on the half hour) are dropped into the landing zone one batch at a
   time; latency is landed -> `marts/atp_by_channel` materialized by the run the sensor launched
   (p50, p95), with the median of each phase of that run: to_run_created (sensor interval and
   tick; split into to_sensor_tick, the wait for the daemon's tick that saw the files, and
   sensor_tick_to_run, that tick until the run exists), run_creation (Dagster writes the run's planned events), queued (until the run
   coordinator launches it), worker_start (process, imports, code location), to_first_step, and
   steps_to_atp split by kind of step (ingest, gx, dbt). The daemon's first run also starts the
   standby run worker that every later run finds warm (orchestration/lib/warm_run_launcher.py):
   one extra batch goes first and is reported apart (first_run_after_daemon_start_s), and p50/p95
   are over the `--batches` after it;
4. cost growth: at 1x, 2x, 4x the stores (`--growth-stores` as 1x) a full run, then
   micro-batches of the same size (the first 10 stores' sales and the listings of one half-hour
   slot) as in 3., with the daemon and sensor: the first after the full run is reported apart,
   the median of the `--growth-batches` after it should stay flat; the full run should grow
   linearly. Each micro-batch figure is compared twice: from the file landing, and from the run's
   creation (`run_to_*`), which leaves out the wait for the sensor's tick (the daemon's loop of
   about 5 s, whatever the data size), the noisiest phase of a few batches.

`--skip` leaves parts out (2. always runs: it loads day one); `--latency-only` is `--skip
bare,growth`, the quick way to measure 3.

Results are printed as a table and written as JSON. Uses OMNI_DATABASE_URL's server if set, else a
scratch embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import psutil
import psycopg

from benchmarks.common import report, scratch_warehouse
from orchestration.defs.ingestion.sensors import DEFAULT_SENSOR_INTERVAL_SECONDS
from orchestration.lib.landing import scan
from orchestration.lib.settings import PROJECT_DIR
from orchestration.simulator.config import SimulationConfig
from orchestration.simulator.run import simulate

SLOT = re.compile(r"(\d{8}T\d{4}Z)")
ATP_BY_CHANNEL = ("marts", "atp_by_channel")
GROWTH_BATCH_STORES = 10


# ---------------------------------------------------------------------------------------------
# measuring


@dataclass
class MemorySampler:
    """Peak resident memory of this process and its children, sampled every 100 ms."""

    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _rss(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with suppress(psutil.Error):  # a child may exit between listing and reading
                total += child.memory_info().rss
        return total

    def __enter__(self) -> MemorySampler:
        def loop() -> None:
            while not self._stop.is_set():
                self.samples.append((time.time(), self._rss()))
                self._stop.wait(0.1)

        threading.Thread(target=loop, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    def peak_mb(self, start: float = 0.0, end: float = float("inf")) -> int:
        inside = [rss for at, rss in self.samples if start <= at <= end]
        return round(max(inside, default=0) / 2**20)


@contextmanager
def step(results: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    print(f"{name}...", flush=True)
    extra: dict[str, Any] = {}
    with MemorySampler() as memory:
        started = time.perf_counter()
        yield extra
        seconds = time.perf_counter() - started
    results[f"{name}_s"] = round(seconds, 1)
    results[f"{name}_peak_mb"] = memory.peak_mb()
    results.update(extra)


# ---------------------------------------------------------------------------------------------
# data


def simulate_days(stores: int, dcs: int, skus: int, folder: Path) -> dict[str, list[Path]]:
    """Two simulated days, files grouped by their 15-minute slot ("" for files without one)."""
    simulate(
        SimulationConfig(
            stores=stores, dcs=dcs, skus=skus, days=2, seed=11,
            landing_dir=folder / "simulated", truth_dir=folder / "truth", quiet=True,
        )
    )  # fmt: skip
    slots: dict[str, list[Path]] = defaultdict(list)
    for item in scan(folder / "simulated"):
        found = SLOT.search(item.path.name)
        slots[found.group(1) if found else ""].append(item.path)
    return slots


def split_days(slots: dict[str, list[Path]]) -> tuple[list[Path], list[str]]:
    """Files of the first day (and undated ones), and the later slots in order."""
    dated = sorted(s for s in slots if s)
    first_day = dated[0][:8]
    first = [p for s in slots if not s or s.startswith(first_day) for p in slots[s]]
    return first, [s for s in dated if not s.startswith(first_day)]


def deliver(paths: list[Path], source_root: Path, landing: Path) -> None:
    """Copy files into the landing zone the way writers do: a dot-name first, then a rename."""
    for path in paths:
        target = landing / path.relative_to(source_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name("." + target.name)
        shutil.copy2(path, partial)
        partial.rename(target)


def is_store_sales(path: Path) -> bool:
    return path.parent.name == "sales" and path.parent.parent.name == "pos"


def micro_batch_files(paths: list[Path], *, store_limit: int | None = None) -> list[Path]:
    """A slot's marketplace listings and store sales (the first `store_limit` stores' sales)."""
    listings = [p for p in paths if p.parent.name == "listings"]
    sales = sorted(p for p in paths if is_store_sales(p))
    return listings + (sales[:store_limit] if store_limit else sales)


# ---------------------------------------------------------------------------------------------
# 1. bare limit


def bare_copy(url: str, root: Path, paths: list[Path]) -> tuple[int, float]:
    """COPY every CSV file into an unlogged table with its raw table's columns; (rows, seconds).

    JSON lines and Parquet files have no bare COPY path; they are left out of both figures here,
    and the loader's throughput counts every file (so the ratio slightly favours COPY).
    """
    wanted = {path.resolve() for path in paths}
    items = [i for i in scan(root) if i.path.resolve() in wanted and i.feed and i.file_format == "csv"]
    seconds = 0.0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop schema if exists bench cascade")
        conn.execute("create schema bench")
        for item in items:
            assert item.feed is not None
            opener: Callable[..., Any] = gzip.open if item.compressed else open
            with opener(item.path, "rt") as handle:
                header = handle.readline().strip().split(",")
            columns = ", ".join(f'"{name}"' for name in header)
            table = f"bench.{item.feed.raw_table}"
            conn.execute(
                f"create unlogged table if not exists {table} as select {columns} from raw.{item.feed.raw_table} limit 0"
            )
            started = time.perf_counter()
            copy_sql = f"copy {table} ({columns}) from stdin (format csv, header true)"
            with conn.cursor() as cursor, cursor.copy(copy_sql) as copy, opener(item.path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    copy.write(chunk)
            seconds += time.perf_counter() - started
        tables = {item.feed.raw_table for item in items if item.feed}
        rows = sum(conn.execute(f"select count(*) from bench.{table}").fetchone()[0] for table in tables)
    return rows, seconds


def aggregate_baseline(url: str) -> float:
    """A plain CREATE TABLE AS aggregate over the copied store counts and sales (seconds)."""
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(
            """
            create unlogged table bench.position_baseline as
            select counts.location_id, counts.sku, max(counts.on_hand) - coalesce(max(sold.qty), 0) as on_hand
            from bench.pos__inventory as counts
            left join (
                select location_id, sku, sum(qty) as qty from bench.pos__sales group by 1, 2
            ) as sold using (location_id, sku)
            group by counts.location_id, counts.sku
            """
        )
        return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# 2. full pipeline, and 4. cost growth: headless full runs


def pipeline_run() -> tuple[str, dict[str, float]]:
    """`omni-inventory run` in this process; (run id, seconds per step kind)."""
    import dagster as dg

    from orchestration.pipeline import run_everything

    success, summary = run_everything()
    if not success:
        raise SystemExit(f"the pipeline run failed:\n{summary}")
    run_id = summary.split()[1].rstrip(":")
    with dg.DagsterInstance.get() as instance:
        segments = step_segments(instance.all_logs(run_id))
    kinds: dict[str, float] = defaultdict(float)
    for kind, start, end in segments:
        kinds[kind] += end - start
    return run_id, dict(kinds)


def step_segments(entries: list[Any]) -> list[tuple[str, float, float]]:
    """(kind, start, end) of each step of a run, from its event log entries.

    The exceptions asset validates the Great Expectations suites before it builds its table and
    records how long that took (GX_SECONDS_METADATA): that first part of its step is GX time, the
    rest is the step's own kind.
    """
    from orchestration.defs.quality.assets import GX_SECONDS_METADATA

    windows: dict[str, tuple[float, float]] = {}
    inner_gx: dict[str, float] = {}
    for entry in entries:
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        start, end = windows.get(event.step_key, (entry.timestamp, entry.timestamp))
        if event.event_type_value == "STEP_START":
            start = entry.timestamp
        if event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            end = entry.timestamp
        windows[event.step_key] = (start, end)
        materialization = entry.asset_materialization
        if materialization is not None and GX_SECONDS_METADATA in materialization.metadata:
            inner_gx[event.step_key] = float(materialization.metadata[GX_SECONDS_METADATA].value)
    segments = []
    for key, (start, end) in windows.items():
        gx_end = min(end, start + inner_gx.get(key, 0.0))
        if gx_end > start:
            segments.append(("gx", start, gx_end))
        segments.append((step_kind(key), gx_end, end))
    return segments


def step_kind(step_key: str) -> str:
    if step_key.startswith("ingest"):
        return "ingest"
    if "dbt" in step_key:
        return "dbt"
    if "check" in step_key or "gx" in step_key or "expectation" in step_key:
        return "gx"
    return "other"


def rows_loaded(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("select coalesce(sum(rows_loaded), 0) from meta.file_ledger").fetchone()[0])


def use_warehouse(url: str, home: Path, landing: Path) -> None:
    """Point this process (and the processes it starts) at `url`, with a Dagster home under `home`."""
    from orchestration.lib.dagster_instance import prepare_dagster_home
    from orchestration.lib.database import export_environment
    from orchestration.lib.settings import load_settings

    os.environ.update({"OMNI_DATABASE_URL": url, "OMNI_HOME": str(home), "OMNI_LANDING_DIR": str(landing)})
    settings = load_settings()
    export_environment(settings)
    prepare_dagster_home(settings)


# ---------------------------------------------------------------------------------------------
# 3. micro-batch latency with the daemon

# Where the time of a micro-batch goes, each phase from the end of the previous one (seconds):
# landed -> the sensor's tick created the run -> the run's planned events written (enqueued) ->
# dequeued and launched -> the run worker started (process, imports, code location) -> first step
# -> atp_by_channel materialized.
PHASES = ("to_run_created", "run_creation", "queued", "worker_start", "to_first_step", "steps_to_atp")


def run_milestones(entries: list[Any]) -> list[float]:
    """When a run was created (its first event: the planned assets), enqueued, launched, started
    (the worker loaded the code location) and started its first step, from its event log."""
    import dagster as dg

    first: dict[str, float] = {}
    for entry in entries:
        if entry.dagster_event is not None:
            first.setdefault("created", entry.timestamp)
            first.setdefault(entry.dagster_event.event_type_value, entry.timestamp)
    kinds = dg.DagsterEventType
    order = [
        "created",
        kinds.RUN_ENQUEUED.value,
        kinds.RUN_STARTING.value,
        kinds.RUN_START.value,
        "STEP_START",
    ]
    return [first.get(name, float("nan")) for name in order]


def batch_breakdown(instance: Any, landed: float, atp: Any) -> dict[str, Any]:
    """Phases (PHASES) of the run that materialized atp_by_channel, the seconds each kind of step
    of that run took before it and after it (steps_after_atp_*: replenishment, finance, ...), when
    the batch's last run ended (landed_to_runs_done) and how many runs the batch started."""
    import dagster as dg

    entries = instance.all_logs(atp.run_id)
    points = [landed, *run_milestones(entries), atp.timestamp]
    phases = {
        name: round(end - start, 1) for name, (start, end) in zip(PHASES, pairwise(points), strict=True)
    }
    before_atp: dict[str, float] = defaultdict(float)
    after_atp: dict[str, float] = defaultdict(float)
    for kind, start, end in step_segments(entries):
        if start < atp.timestamp:
            before_atp[kind] += min(end, atp.timestamp) - start
        if end > atp.timestamp:
            after_atp[kind] += end - max(start, atp.timestamp)
    runs = instance.get_run_records(filters=dg.RunsFilter(created_after=_utc(landed)))
    tick_started = sensor_tick_start(instance, atp.run_id)
    if tick_started is not None:
        # to_run_created = waiting for the daemon's next tick + the tick until the run exists
        phases["to_sensor_tick"] = round(max(0.0, tick_started - landed), 1)
        phases["sensor_tick_to_run"] = round(points[1] - max(tick_started, landed), 1)
    return {
        **phases,
        **{f"steps_to_atp_{kind}": round(s, 1) for kind, s in sorted(before_atp.items())},
        # the rest of the batch's work: the steps after atp_by_channel (replenishment, finance, ...)
        **{f"steps_after_atp_{kind}": round(s, 1) for kind, s in sorted(after_atp.items())},
        "landed_to_runs_done": round(max(run.end_time or atp.timestamp for run in runs) - landed, 1),
        "runs": len(runs),
    }


def sensor_tick_start(instance: Any, run_id: str) -> float | None:
    """When the landing-zone sensor's tick that requested `run_id` started."""
    from orchestration.defs.ingestion.sensors import LANDING_SENSOR

    for state in instance.all_instigator_state():
        if state.instigator_name == LANDING_SENSOR:
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=50):
                if run_id in tick.run_ids:
                    return float(tick.timestamp)
    return None


def batch_materialized(instance: Any, url: str, landed: float, relatives: list[str]) -> Any:
    """The newest atp_by_channel materialization once the batch is done (every file of it in the
    ledger, every run since it landed finished, atp_by_channel materialized since), else None."""
    import dagster as dg

    runs = instance.get_runs(filters=dg.RunsFilter(created_after=_utc(landed)))
    failed = [run.run_id for run in runs if run.status.value == "FAILURE"]
    if failed:
        raise SystemExit(f"micro-batch runs failed: {failed}")
    if not runs or not all(run.is_finished for run in runs):
        return None
    event = instance.get_latest_materialization_event(dg.AssetKey(list(ATP_BY_CHANNEL)))
    if event is None or event.timestamp <= landed:
        return None
    with psycopg.connect(url) as conn:  # a batch the sensor split over two ticks is not done early
        loaded = conn.execute("select count(*) from meta.file_ledger where file_path = any(%s)", (relatives,))
        return event if loaded.fetchone()[0] == len(relatives) else None


def _utc(epoch: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC)


def stop_schedules(home: Path) -> None:
    """Stop the code location's schedules: a sweep or ERP refresh at :00 or :30 would otherwise
    land in a random batch and decide its latency (the figure is the sensor's)."""
    from orchestration.definitions import defs

    dagster = str(Path(sys.executable).parent / "dagster")
    for schedule in defs.schedules:
        subprocess.run(
            [dagster, "schedule", "stop", schedule.name, "-w", str(PROJECT_DIR / "workspace.yaml")],
            cwd=home, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip


def wait_for_first_tick(instance: Any, sensor: str, timeout: float) -> None:
    """Until the daemon has loaded the code location and evaluated `sensor` once."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for state in instance.all_instigator_state():
            if state.instigator_name == sensor and instance.get_ticks(
                state.instigator_origin_id, state.selector_id, limit=1
            ):
                return
        time.sleep(1)
    raise SystemExit(f"the daemon did not tick {sensor} within {timeout} s")


def measure_latency(
    batches: list[list[Path]], source_root: Path, landing: Path, home: Path, interval: int, timeout: float
) -> tuple[list[float], list[dict[str, Any]]]:
    """Latency of each batch (landed -> atp_by_channel materialized) and its breakdown."""
    import dagster as dg

    from orchestration.defs.ingestion.sensors import LANDING_SENSOR
    from orchestration.lib.database import resolved_url

    stop_schedules(home)
    env = {**os.environ, "OMNI_SENSOR_INTERVAL_SECONDS": str(interval)}
    log = (home / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(PROJECT_DIR / "workspace.yaml")],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    latencies: list[float] = []
    breakdowns: list[dict[str, Any]] = []
    try:
        with dg.DagsterInstance.get() as instance:
            wait_for_first_tick(instance, LANDING_SENSOR, timeout)
            for number, batch in enumerate(batches, start=1):
                relatives = [path.relative_to(source_root).as_posix() for path in batch]
                landed = time.time()
                deliver(batch, source_root, landing)
                while (atp := batch_materialized(instance, resolved_url(), landed, relatives)) is None:
                    if time.time() > landed + timeout:
                        raise SystemExit(f"batch {number}: atp_by_channel not updated within {timeout} s")
                    time.sleep(0.5)
                latencies.append(atp.timestamp - landed)
                breakdowns.append(batch_breakdown(instance, landed, atp))
                print(
                    f"  batch {number}: {len(batch)} files, {latencies[-1]:.1f} s, {breakdowns[-1]}",
                    flush=True,
                )
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        log.close()
    return latencies, breakdowns


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


# ---------------------------------------------------------------------------------------------


def full_and_micro(
    results: dict[str, Any], prefix: str, url: str, stores: int, dcs: int, skus: int, work: Path
) -> tuple[list[Path], list[str], dict[str, list[Path]]]:
    """Simulate, deliver day one, run everything (timed by step): the shared part of 2. and 4."""
    landing = work / "landing"
    use_warehouse(url, work / "home", landing)
    with step(results, f"{prefix}simulate"):
        slots = simulate_days(stores, dcs, skus, work)
    first_day, second_day = split_days(slots)
    deliver(first_day, work / "simulated", landing)
    with step(results, f"{prefix}full_run") as extra:
        _, kinds = pipeline_run()
        extra.update({f"{prefix}full_run_{kind}_s": round(s, 1) for kind, s in sorted(kinds.items())})
    return first_day, second_day, slots


def bare_limit(results: dict[str, Any], url: str, first_day: list[Path], root: Path) -> None:
    """1. bare COPY and aggregate of day one, and the full run's ingest and dbt against them."""
    loaded = rows_loaded(url)
    with step(results, "bare_copy") as extra:
        copied, copy_s = bare_copy(url, root, first_day)
        extra["bare_copy_rows"] = copied
        extra["bare_copy_rows_per_s"] = round(copied / copy_s)
    with step(results, "bare_aggregate"):
        aggregate_baseline(url)
    ingest_s = results["full_run_ingest_s"]
    results["ingest_rows"] = loaded
    results["ingest_rows_per_s"] = round(loaded / ingest_s)
    results["ingest_vs_bare_copy"] = round((loaded / ingest_s) / results["bare_copy_rows_per_s"], 3)
    results["dbt_vs_bare_aggregate"] = round(
        results["full_run_dbt_s"] / max(results["bare_aggregate_s"], 0.01), 1
    )


def cost_growth(results: dict[str, Any], factor: int, args: argparse.Namespace, tmp: Path) -> None:
    """4. at `factor` x --growth-stores: the full run, and the median micro-batch: landed ->
    atp_by_channel (micro_batch_s) and landed -> every run of the batch done.

    The micro-batches run as in 3. (daemon, sensor, warm run worker), each of the same size: the
    first GROWTH_BATCH_STORES stores' sales and every listing of one half-hour slot. The first
    batch after the full build (with the daemon's cold first run) is reported apart, as in 3.
    """
    prefix = f"growth_{factor}x_"
    grown = tmp / f"growth{factor}"
    url = scratch_warehouse(f"omni_bench_scale_{factor}x")
    _, later, slots = full_and_micro(
        results, prefix, url, args.growth_stores * factor, args.dcs, args.skus, grown
    )
    # slots with store sales (every 30 minutes): the 15-minute slots between hold listings only
    batches = [micro_batch_files(slots[slot], store_limit=GROWTH_BATCH_STORES) for slot in later]
    batches = [batch for batch in batches if any(map(is_store_sales, batch))]
    batches = batches[: args.growth_batches + 1]
    with step(results, f"{prefix}micro_batches"):
        latencies, breakdowns = measure_latency(
            batches, grown / "simulated", grown / "landing", grown / "home", args.sensor_interval,
            args.batch_timeout,
        )  # fmt: skip
    results[f"{prefix}first_micro_batch_after_full_run_s"] = round(latencies.pop(0), 1)
    results[f"{prefix}first_micro_batch_after_full_run_dbt_s"] = breakdowns.pop(0).get("steps_to_atp_dbt")
    results[f"{prefix}micro_batch_s"] = round(statistics.median(latencies), 1)
    for name in (
        "to_run_created",
        "to_sensor_tick",
        "sensor_tick_to_run",
        "steps_to_atp_dbt",
        "steps_after_atp_dbt",
        "steps_after_atp_gx",
        "landed_to_runs_done",
    ):
        results[f"{prefix}micro_batch_{name}_s"] = round(
            statistics.median(b.get(name, 0.0) for b in breakdowns), 1
        )
    # the same two figures from the run's creation: the sensor's wait left out
    results[f"{prefix}micro_batch_run_to_atp_s"] = round(
        statistics.median(s - b["to_run_created"] for s, b in zip(latencies, breakdowns, strict=True)), 1
    )
    results[f"{prefix}micro_batch_run_to_runs_done_s"] = round(
        statistics.median(b["landed_to_runs_done"] - b["to_run_created"] for b in breakdowns), 1
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--dcs", type=int, default=2)
    parser.add_argument("--skus", type=int, default=20_000)
    parser.add_argument("--batches", type=int, default=10, help="micro-batches for the latency figures")
    parser.add_argument(
        "--sensor-interval",
        type=int,
        default=DEFAULT_SENSOR_INTERVAL_SECONDS,
        help="minimum seconds between sensor ticks (the product's default)",
    )
    parser.add_argument("--batch-timeout", type=float, default=600.0)
    parser.add_argument("--growth", default="1,2,4", help="multiples of --growth-stores for the cost growth")
    parser.add_argument("--growth-stores", type=int, default=30)
    parser.add_argument(
        "--growth-batches", type=int, default=5, help="micro-batches per size for the cost growth"
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: bare, latency, growth")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="day one's run and the micro-batch latency (--skip bare,growth)",
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/scale.json"))
    args = parser.parse_args()
    if args.batches < 1 or args.growth_batches < 1:
        parser.error("--batches and --growth-batches must be at least 1")
    skip = set(filter(None, args.skip.split(","))) | ({"bare", "growth"} if args.latency_only else set())

    results: dict[str, Any] = {"scale": f"{args.stores} stores, {args.dcs} DCs, {args.skus} skus, 4 channels"}
    with tempfile.TemporaryDirectory(prefix="omni-scale-") as tmp:
        work = Path(tmp) / "seed"
        url = scratch_warehouse("omni_bench_scale")
        first_day, second_day, slots = full_and_micro(
            results, "", url, args.stores, args.dcs, args.skus, work
        )
        if "bare" not in skip:
            bare_limit(results, url, first_day, work / "simulated")

        if "latency" not in skip:
            # the slots with a marketplace listing (every 15 minutes) or store sales (every 30)
            batches = [batch for batch in (micro_batch_files(slots[slot]) for slot in second_day) if batch]
            # one more: the daemon's first run also starts its standby run worker, reported apart
            batches = batches[: args.batches + 1]
            with step(results, "micro_batches_with_daemon"):
                latencies, breakdowns = measure_latency(
                    batches, work / "simulated", work / "landing", work / "home", args.sensor_interval,
                    args.batch_timeout,
                )  # fmt: skip
            results["first_run_after_daemon_start_s"] = round(latencies.pop(0), 1)
            results["first_run_after_daemon_start_phases_s"] = breakdowns.pop(0)
            results["micro_batch_latency_p50_s"] = round(statistics.median(latencies), 1)
            results["micro_batch_latency_p95_s"] = round(percentile(latencies, 0.95), 1)
            results["micro_batch_latency_max_s"] = round(max(latencies), 1)
            results["micro_batch_phases_p50_s"] = {
                name: round(statistics.median(b.get(name, 0.0) for b in breakdowns), 1)
                for name in dict.fromkeys(name for b in breakdowns for name in b)
            }

        if "growth" not in skip:
            factors = sorted(int(f) for f in args.growth.split(","))
            for factor in factors:
                cost_growth(results, factor, args, Path(tmp))
            for figure in (
                "micro_batch_s",
                "micro_batch_landed_to_runs_done_s",
                "micro_batch_run_to_atp_s",
                "micro_batch_run_to_runs_done_s",
                "full_run_s",
            ):
                base = results[f"growth_{factors[0]}x_{figure}"]
                results[f"growth_{figure.removesuffix('_s')}_ratios"] = {
                    f"{f}x": round(results[f"growth_{f}x_{figure}"] / base, 2) for f in factors
                }
    report(results, args.json)


if __name__ == "__main__":
    main()
