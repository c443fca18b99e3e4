"""Full dbt build against micro-batches on the simulator's retailer, in one run.

    .venv/bin/python -m benchmarks.dbt_incremental [--stores 300 --dcs 2 --skus 2000 --seed 7]
        [--cut 20261101T1800Z] [--batches 4] [--batch-minutes 30] [--json benchmarks/results/dbt_incremental.json]

Simulates two days of a fault-free retailer (the simulator's default scale), loads the files up to
`--cut` and builds from an empty warehouse, timed: the full build. Then it delivers the following
files in batches of 30 minutes of feed time (`--batch-minutes`), building after each, timed: the
micro-batches. Every build is the production one (lib/dbt_runner.py in process, parsed once;
`dbt build` of the models and data tests of Dagster's first dbt step, i.e. without the
after-quality-gate models and the unit tests); a micro-batch builds what the run a sensor launches
for those files builds: everything below the feeds that received files. For each micro-batch it
reports the share of positions it rewrote and the slowest nodes. Finally it checks that a full
refresh equals the incremental result.

The issue's budget: a micro-batch touching about 1% of positions costs under 10% of the full build.
Starts (or reuses) the embedded PostgreSQL in a scratch folder unless OMNI_DATABASE_URL is set.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import report, scratch_warehouse
from orchestration.lib.database import dbt_env
from orchestration.lib.dbt_runner import InProcessDbt
from orchestration.lib.feeds import FEEDS_BY_ID
from orchestration.lib.loader import ingest
from orchestration.lib.settings import DBT_PROJECT_DIR
from orchestration.simulator.config import SimulationConfig
from orchestration.simulator.run import simulate

BUDGET = 0.10
BUILD = ("build", "--exclude-resource-type", "unit_test", "--exclude", "tag:after_quality_gate")
SLOT = re.compile(r"(\d{8}T\d{4}Z)")
# The incremental tables behind the marts, with their keys.
POSITION_TABLES = (
    "intermediate.int_inventory__positions",
    "intermediate.int_availability__timephased",
    "intermediate.int_availability__channel_ats",
    "intermediate.int_availability__network_atp",
)
MARTS = ("inventory_position", "atp_by_location", "atp_by_channel", "atp_network", "atp_timephased")


def files_by_slot(landing: Path) -> dict[str, list[Path]]:
    slots: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(landing.rglob("*")):
        relative = path.relative_to(landing)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found = SLOT.search(path.name)
            slots[found.group(1) if found else ""].append(path)  # no slot: master data, delivered first
    return slots


def micro_batches(slots: list[str], minutes: int) -> list[list[str]]:
    """Consecutive slots grouped into batches of `minutes` of feed time."""
    batches: dict[int, list[str]] = defaultdict(list)
    start = _minutes(slots[0])
    for slot in slots:
        batches[(_minutes(slot) - start) // minutes].append(slot)
    return [batches[number] for number in sorted(batches)]


def _minutes(slot: str) -> int:
    return int(datetime.strptime(slot, "%Y%m%dT%H%MZ").replace(tzinfo=UTC).timestamp() // 60)


def mart_rows(url: str) -> dict[str, list[tuple]]:
    """Every mart's rows, sorted (bookkeeping columns are not in the marts)."""
    with psycopg.connect(url) as conn:
        return {mart: sorted(conn.execute(f"select * from marts.{mart}").fetchall()) for mart in MARTS}


class Bench:
    def __init__(self, url: str, source: Path, landing: Path) -> None:
        self.url, self.source, self.landing = url, source, landing
        self.dbt = InProcessDbt(
            project_dir=DBT_PROJECT_DIR,
            profiles_dir=DBT_PROJECT_DIR,
            parse_target=DBT_PROJECT_DIR / "target",  # the prepared state, as production parses
        )

    def deliver(self, paths: list[Path]) -> tuple[int, list[str]]:
        """Land and load the files: rows loaded, and the dbt selection of what they feed."""
        for path in paths:
            target = self.landing / path.relative_to(self.source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        report = ingest(self.url, self.landing)
        # What a sensor run builds: everything below the feeds that received files.
        tables = sorted({FEEDS_BY_ID[feed].raw_table for feed in report.rows_by_feed()})
        return report.rows_loaded, ["--select", " ".join(f"source:raw.{t}+" for t in tables)]

    def build(self, *extra: str) -> tuple[float, list[tuple[str, float]]]:
        os.environ.update(dbt_env(self.url))
        started = time.perf_counter()
        result = self.dbt.invoke([*BUILD, *extra])
        seconds = time.perf_counter() - started
        nodes = sorted(
            ((r.node.name, r.execution_time) for r in result.result.results), key=lambda n: n[1], reverse=True
        )
        return seconds, nodes

    def rewritten(self) -> dict[str, int]:
        with psycopg.connect(self.url) as conn:
            run_seq = conn.execute("select max(run_seq) from meta.dbt_runs").fetchone()[0]
            return {
                table: conn.execute(
                    f"select count(*) from {table} where _run_seq = %s", (run_seq,)
                ).fetchone()[0]
                for table in POSITION_TABLES
            }

    def positions(self) -> int:
        with psycopg.connect(self.url) as conn:
            return conn.execute("select count(*) from intermediate.int_inventory__positions").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=300)
    parser.add_argument("--dcs", type=int, default=2)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cut", default="20261101T1800Z", help="first build: the files of the slots up to this"
    )
    parser.add_argument("--batches", type=int, default=4, help="micro-batches after the cut")
    parser.add_argument("--batch-minutes", type=int, default=30, help="feed time each micro-batch covers")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/dbt_incremental.json"))
    args = parser.parse_args()

    url = scratch_warehouse("omni_bench_dbt")
    with tempfile.TemporaryDirectory() as tmp:
        source, landing = Path(tmp) / "simulated", Path(tmp) / "landing"
        print("simulating...", flush=True)
        simulate(
            SimulationConfig(
                stores=args.stores, dcs=args.dcs, skus=args.skus, days=2, seed=args.seed,
                landing_dir=source, truth_dir=Path(tmp) / "truth", quiet=True,
            )
        )  # fmt: skip
        slots = files_by_slot(source)
        order = sorted(slots)
        bench = Bench(url, source, landing)
        print("loading the files up to the cut...", flush=True)
        rows, _ = bench.deliver([path for slot in order if slot <= args.cut for path in slots[slot]])
        print("full build...", flush=True)
        full_s, full_nodes = bench.build()
        positions = bench.positions()
        results: dict[str, Any] = {
            "scale": f"{args.stores} stores, {args.dcs} DCs, {args.skus} skus; {positions} positions",
            "rows_loaded_before_the_full_build": rows,
            "full_build_s": round(full_s, 1),
            "full_build_slowest_nodes": ", ".join(f"{n} {s:.1f}" for n, s in full_nodes[:4]),
        }
        batches = micro_batches([slot for slot in order if slot > args.cut], args.batch_minutes)[
            : args.batches
        ]
        micro: list[float] = []
        for number, batch in enumerate(batches, start=1):
            files = [path for slot in batch for path in slots[slot]]
            slot = f"{batch[0]}..{batch[-1]}"
            rows, below_the_batch = bench.deliver(files)
            print(f"micro-batch {number} ({slot})...", flush=True)
            seconds, nodes = bench.build(*below_the_batch)
            micro.append(seconds)
            rewritten = bench.rewritten()
            share = rewritten["intermediate.int_inventory__positions"] / positions
            results[f"micro_batch_{number}"] = (
                f"{slot}: {len(files)} files, {rows} rows; {seconds:.1f} s ({seconds / full_s:.1%} of full);"
                f" positions rewritten {share:.2%}; slowest: "
                + ", ".join(f"{n} {s:.2f}" for n, s in nodes[:3])
            )
        print("build with nothing new...", flush=True)
        idle_s, _ = bench.build()
        incremental = mart_rows(url)
        print("full refresh...", flush=True)
        refresh_s, _ = bench.build("--full-refresh")
        median = statistics.median(micro)
        results.update(
            {
                "micro_batch_median_s": round(median, 2),
                "micro_batch_vs_full_build": round(median / full_s, 3),
                "within_10pct_budget": median / full_s < BUDGET,
                "build_with_nothing_new_s": round(idle_s, 2),
                "full_refresh_s": round(refresh_s, 1),
                "full_refresh_equals_incremental": mart_rows(url) == incremental,
            }
        )
    report(results, args.json)


if __name__ == "__main__":
    main()
