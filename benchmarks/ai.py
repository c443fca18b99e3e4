"""AI-assisted operations against the simulator's labels (docs/ai.md).

    .venv/bin/python -m benchmarks.ai [--stores 20] [--dcs 3] [--skus 200] [--days 10]
        [--seeds 5 6 7] [--rate 0.15]

Simulates, per seed, a multi-day world with the three anomaly fault kinds (`--fault-kinds
anomalies`) and the same world without faults, loads both and builds the models the detectors
read (real loader, dbt and PostgreSQL). Then, on each world, every method per anomaly type: the
platform's (median and MAD, against the series' own days and its peers', marked `*`), the mean
and standard deviation in its place (the baseline every ratio is against), and the robust score
against its own days only (no peers). Prints, on the first seed's world, the time of the ai steps
against the load and dbt build, the same steps again as a micro-batch with no new snapshot and
after one new till count file, and the NDCG of the exception queue's order against the
exceptions' impact; then precision and recall per type on the faulty worlds, false positives per
location x sku pair on the clean ones, and time, summed over the seeds.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psycopg

from benchmarks.common import scratch_warehouse
from orchestration.lib.ai.anomalies import Parameters, store_anomalies
from orchestration.lib.ai.clusters import rebuild_clusters
from orchestration.lib.ai.evaluation import FAULT_ANOMALY_TYPES, fault_key, score_anomalies
from orchestration.lib.ai.policy import rebuild_policy_suggestions
from orchestration.lib.ai.queue import rebuild_exception_queue
from orchestration.lib.database import dbt_env
from orchestration.lib.dbt_runner import InProcessDbt, temporary_environment
from orchestration.lib.loader import ingest
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from orchestration.lib.quality.recall import read_manifest
from orchestration.lib.quality.snapshot_index import data_as_of
from orchestration.lib.settings import DBT_PROJECT_DIR
from orchestration.simulator import SimulationConfig, simulate
from orchestration.simulator.config import ANOMALY_FAULT_KINDS

INF = 1e9  # "no peer threshold" (json has no infinity)
METHODS: dict[str, Parameters] = {
    "mean/std z, own + peers": Parameters(baseline="std"),
    "robust MAD z, own + peers *": Parameters(),
    # count variance as model version 1 had it: the peers' spread never below 5 % of the skus
    "robust MAD z, own + peers, 5 % floor": Parameters(variance_min_spread_skus=None),
    "robust MAD z, own only": Parameters(
        spike_peer_z=-INF, movement_peer_z=-INF, variance_peer_z=-INF, spike_own_z=4.0
    ),
}
MODELS = ("+int_inventory__positions", "stg_channel__orders", "stg_wms__movements", "stg_erp__items")


def build_world(args: argparse.Namespace, folder: Path, faults: bool) -> tuple[str, list[dict], float]:
    config = SimulationConfig(
        stores=args.stores,
        dcs=args.dcs,
        skus=args.skus,
        days=args.days,
        seed=args.seed,
        fault_rate=args.rate if faults else 0.0,
        fault_kinds=ANOMALY_FAULT_KINDS if faults else (),
        landing_dir=folder / "landing",
        truth_dir=folder / "truth",
        quiet=True,
    )
    simulate(config)
    url = scratch_warehouse("omni_bench_ai_faulty" if faults else "omni_bench_ai_clean")
    started = time.perf_counter()
    ingest(url, config.landing_dir)
    dbt = InProcessDbt(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, parse_target=DBT_PROJECT_DIR / "target"
    )
    with temporary_environment(dbt_env(url)):
        dbt.invoke(["run", "--exclude", "tag:after_quality_gate"])
    return url, read_manifest(config.truth_dir), time.perf_counter() - started


def ndcg_of_queue(url: str, faults: list[dict]) -> float:
    """NDCG of the queue's order of the ANOMALY_* exceptions against the true impact the simulator
    recorded for each injected anomaly (the manifest's impact_value: units lost, spiked or moved
    x unit cost). An exception that matches no fault gains 0; the ideal order ranks every
    injected fault, so a missed one costs too."""
    impacts = {
        fault_key(f): float(f["details"].get("impact_value", 0.0))
        for f in faults
        if f["kind"] in FAULT_ANOMALY_TYPES
    }
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select q.exception_type, a.location_id, a.channel_id, a.sku from quality.exception_queue q"
            " join ai.anomalies a on a.anomaly_id = q.details ->> 'anomaly_id'"
            " order by q.priority_score desc, q.exception_id"
        ).fetchall()
    gains = [
        impacts.get((None, channel, sku) if kind == "ANOMALY_DEMAND_SPIKE" else (location, None, None), 0.0)
        for kind, location, channel, sku in rows
    ]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(impacts.values(), reverse=True)))
    return dcg / ideal if ideal else 1.0


TYPES = ("RECURRING_COUNT_VARIANCE", "DEMAND_SPIKE", "MOVEMENT_ANOMALY")


@dataclass
class Tally:
    """One method's counts for one type, summed over the seeds' worlds."""

    injected: int = 0
    true_positives: int = 0
    found: int = 0
    clean_false_positives: int = 0
    seconds: float = 0.0  # detection time of all three types (one call), summed over the seeds

    @property
    def precision(self) -> float:
        return self.true_positives / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.injected if self.injected else 1.0


def score_methods(faulty_url: str, faults: list[dict], clean_url: str, tallies: dict) -> None:
    for label, parameters in METHODS.items():
        started = time.perf_counter()
        store_anomalies(faulty_url, _as_of(faulty_url), replace(parameters))
        seconds = time.perf_counter() - started
        scores = score_anomalies(faulty_url, faults)
        store_anomalies(clean_url, _as_of(clean_url), replace(parameters))
        clean = score_anomalies(clean_url, [])
        for anomaly_type in TYPES:
            tally = tallies[anomaly_type][label]
            tally.injected += len(scores[anomaly_type].injected)
            tally.true_positives += scores[anomaly_type].true_positives
            tally.found += len(scores[anomaly_type].found)
            tally.clean_false_positives += clean[anomaly_type].false_positives
            tally.seconds += seconds


def time_ai_steps(url: str, build_s: float) -> None:
    """The steps of a build after the marts with the platform's method, against the load and dbt
    build before them: the ai assets (anomalies, queue, clusters, suggestions) and, apart, the
    exceptions step they feed."""
    steps = {
        "anomalies": lambda: store_anomalies(url, _as_of(url)),
        "exceptions (not an ai asset)": lambda: build_inventory_exceptions(url),
        "queue": lambda: rebuild_exception_queue(url),
        "clusters": lambda: rebuild_clusters(url),
        "suggestions": lambda: rebuild_policy_suggestions(url),
    }
    passes = {
        # score_methods has filled the count-variance cache: empty it, as a first build finds it
        "full build": lambda: _forget_count_variance(url, everything=True),
        # a micro-batch of sales, orders or movements: no snapshot file since the last pass
        "again, a micro-batch with no new snapshot": lambda: None,
        # as if the newest till count file had just loaded: its day of figures is recomputed
        "again, after one new till count file": lambda: _forget_count_variance(url, everything=False),
    }
    for label, prepare in passes.items():
        prepare()
        seconds = {}
        for name, step in steps.items():
            started = time.perf_counter()
            step()
            seconds[name] = time.perf_counter() - started
        ai_s = sum(v for k, v in seconds.items() if not k.startswith("exceptions"))
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items())
        print(
            f"{label}: ai assets {ai_s:.2f} s ({ai_s / build_s:.1%} of load + dbt {build_s:.1f} s); {parts}"
        )


def _forget_count_variance(url: str, everything: bool) -> None:
    """Make the count-variance cache miss: all of it, or only the newest till count file."""
    with psycopg.connect(url) as conn:
        if everything:
            conn.execute(
                "truncate ai.count_variance_locations, ai.count_variance_days, ai.count_variance_loads"
            )
        else:
            conn.execute(
                "delete from ai.count_variance_loads where load_id = (select max(load_id)"
                " from meta.file_ledger where status = 'loaded' and feed = 'pos/inventory')"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--dcs", type=int, default=3)
    parser.add_argument("--skus", type=int, default=200)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7])
    parser.add_argument("--rate", type=float, default=0.15)
    args = parser.parse_args()
    tallies = {t: {label: Tally() for label in METHODS} for t in TYPES}
    ndcg: list[float] = []
    for index, seed in enumerate(args.seeds):
        world = argparse.Namespace(**{**vars(args), "seed": seed})
        with tempfile.TemporaryDirectory() as tmp:
            faulty_url, faults, build_s = build_world(world, Path(tmp) / "faulty", faults=True)
            clean_url, _, _ = build_world(world, Path(tmp) / "clean", faults=False)
        score_methods(faulty_url, faults, clean_url, tallies)
        if index == 0:
            print(f"seed {seed}:")
            time_ai_steps(faulty_url, build_s)
        else:  # the platform's method, as the build runs it (score_methods ran the others last)
            store_anomalies(faulty_url, _as_of(faulty_url))
            build_inventory_exceptions(faulty_url)
            rebuild_exception_queue(faulty_url)
        ndcg.append(ndcg_of_queue(faulty_url, faults))
        print(f"seed {seed}: queue NDCG against the manifest's impact {ndcg[-1]:.3f}")
    print(f"queue NDCG against the manifest's impact, mean over the seeds: {sum(ndcg) / len(ndcg):.3f}")
    pairs = (args.stores + args.dcs) * args.skus * len(args.seeds)
    print(f"\nseeds {args.seeds}, fault rate {args.rate}, {pairs} location x sku pairs in the clean worlds")
    print(
        f"{'type':26} {'method':38} {'injected':>8} {'precision':>9} {'recall':>7} {'clean FP/pair':>13}"
        f" {'s':>6}  vs baseline"
    )
    for anomaly_type, by_method in tallies.items():
        base = next(iter(by_method.values()))
        for label, t in by_method.items():
            ratio = ", ".join(
                f"{name} {value / reference:.2f}x" if reference else f"{name} {value:.2f} vs 0"
                for name, value, reference in (
                    ("P", t.precision, base.precision),
                    ("R", t.recall, base.recall),
                )
            )
            print(
                f"{anomaly_type:26} {label:38} {t.injected:8} {t.precision:9.2f} {t.recall:7.2f}"
                f" {t.clean_false_positives / pairs:13.4f} {t.seconds:6.2f}  {ratio}"
            )


def _as_of(url: str):
    with psycopg.connect(url) as conn:
        return data_as_of(conn)


if __name__ == "__main__":
    main()
