"""The simulator's injected anomalies are found at the right location, channel and sku, and a
fault-free world of the same seed gives none or few. Real simulator, loader, dbt and PostgreSQL.

One small multi-day world (the detectors need a history), simulated with the three anomaly kinds
and once without faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.ai.anomalies import store_anomalies
from orchestration.lib.ai.evaluation import TypeScore, score_anomalies
from orchestration.lib.loader import ingest
from orchestration.lib.quality.recall import read_manifest
from orchestration.lib.quality.snapshot_index import data_as_of
from orchestration.lib.raw_schema import ensure_warehouse
from orchestration.simulator import SimulationConfig, simulate
from orchestration.simulator.config import ANOMALY_FAULT_KINDS
from tests.support.dbt import SCENARIO_DATABASE
from tests.support.postgres import create_database

WORLD = {"stores": 10, "dcs": 3, "skus": 60, "days": 8, "seed": 5}
MODELS = ("+int_inventory__positions", "stg_channel__orders", "stg_wms__movements", "stg_erp__items")


@dataclass
class Outcome:
    scores: dict[str, TypeScore]
    anomaly_ids: list[str]
    rerun_ids: list[str]
    pairs: int  # location x sku pairs of the world
    impacts: dict[str, list[tuple[int, float]]]  # (impact_units, impact_value) of each injected anomaly


def run_world(pg_server: str, make_dbt, folder: Path, faults: bool) -> Outcome:
    config = SimulationConfig(
        **WORLD,
        fault_rate=0.05 if faults else 0.0,
        fault_kinds=ANOMALY_FAULT_KINDS if faults else (),
        landing_dir=folder / "landing",
        truth_dir=folder / "truth",
        quiet=True,
    )
    simulate(config)
    url = create_database(pg_server, SCENARIO_DATABASE)
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    ingest(url, config.landing_dir)
    make_dbt(url)("run", "--select", *MODELS)
    with psycopg.connect(url) as conn:
        as_of = data_as_of(conn)
    store_anomalies(url, as_of)
    ids = [r[0] for r in psycopg.connect(url).execute("select anomaly_id from ai.anomalies order by 1")]
    store_anomalies(url, as_of)  # the same files again
    rerun = [r[0] for r in psycopg.connect(url).execute("select anomaly_id from ai.anomalies order by 1")]
    manifest = read_manifest(config.truth_dir)
    impacts: dict[str, list[tuple[int, float]]] = {}
    for fault in manifest:
        if fault["kind"] in ANOMALY_FAULT_KINDS:
            impacts.setdefault(fault["kind"], []).append(
                (fault["details"]["impact_units"], fault["details"]["impact_value"])
            )
    return Outcome(
        score_anomalies(url, manifest),
        ids,
        rerun,
        (WORLD["stores"] + WORLD["dcs"]) * WORLD["skus"],
        impacts,
    )


@pytest.fixture(scope="module")
def worlds(pg_server: str, make_dbt, tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Outcome]:
    faulty = run_world(pg_server, make_dbt, tmp_path_factory.mktemp("faulty"), faults=True)
    clean = run_world(pg_server, make_dbt, tmp_path_factory.mktemp("clean"), faults=False)
    return faulty, clean


def test_every_injected_anomaly_is_found_at_its_key(worlds) -> None:
    faulty, _ = worlds
    for anomaly_type, score in faulty.scores.items():
        assert score.injected, f"the world must inject {anomaly_type}"
        missed = score.injected - score.found
        assert not missed, f"{anomaly_type}: missed {missed}, found {score.found}"
        assert score.precision >= 0.5, f"{anomaly_type}: false positives {score.found - score.injected}"


def test_a_fault_free_world_gives_few_anomalies(worlds) -> None:
    _, clean = worlds
    false_positives = sum(s.false_positives for s in clean.scores.values())
    assert false_positives <= max(1, clean.pairs // 100), {t: s.found for t, s in clean.scores.items()}


def test_the_same_files_give_the_same_anomaly_ids(worlds) -> None:
    faulty, _ = worlds
    assert faulty.anomaly_ids and faulty.anomaly_ids == faulty.rerun_ids


def test_each_injected_anomaly_records_the_impact_it_had(worlds) -> None:
    """The manifest's impact is what the queue's ranking is measured against (benchmarks/ai.py):
    every injected anomaly moved units and value as it happened."""
    faulty, clean = worlds
    assert sorted(faulty.impacts) == sorted(ANOMALY_FAULT_KINDS)
    for kind, impacts in faulty.impacts.items():
        assert all(units > 0 and value > 0 for units, value in impacts), (kind, impacts)
    assert clean.impacts == {}
