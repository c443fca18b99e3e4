"""Every fault the simulator injects becomes an exception of the right type and key; a fault-free
run of the same world raises no blocking exception.

The pipeline runs the way Dagster runs it, with the functions its assets call: load, dbt (the
models before the quality gate), the raw and mart suites, the exceptions, then (faulty world) the
gated dbt models, the finance suite and the exceptions again. One small world (4 stores, 1 DC,
50 skus, one day; seed 2 injects every kind), simulated once with every fault kind and once
without. The mapping of fault kinds to exception types is orchestration/lib/quality/recall.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.feeds import FEEDS
from orchestration.lib.loader import ingest
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from orchestration.lib.quality.recall import FAULT_EXCEPTIONS, RecallReport, fault_recall, read_manifest
from orchestration.lib.quality.validation import validate_feeds, validate_marts
from orchestration.lib.raw_schema import ensure_warehouse
from orchestration.simulator import SimulationConfig, simulate
from orchestration.simulator.config import FAULT_KINDS
from tests.support.dbt import SCENARIO_DATABASE
from tests.support.postgres import create_database

GATED = "tag:after_quality_gate"
WORLD = {"stores": 4, "dcs": 1, "skus": 50, "days": 1, "seed": 2}


@dataclass
class Outcome:
    recall: RecallReport
    kinds_injected: set[str]
    open_blocking: list[tuple]
    failed_blocking_expectations: list[tuple]
    exception_types: set[str]
    reconciliation_variances: set[tuple[str, str]]
    faults: list[dict]
    seconds: float
    # per mart view: validated again by a second call right after the first, and after a build of
    # the positions (no new data)
    mart_revalidation: dict[str, tuple[bool, bool]]


def run_world(pg_server: str, make_dbt, folder: Path, fault_rate: float, gated: bool) -> Outcome:
    started = time.monotonic()
    config = SimulationConfig(
        **WORLD, fault_rate=fault_rate, landing_dir=folder / "landing", truth_dir=folder / "truth", quiet=True
    )
    simulate(config)
    url = create_database(pg_server, SCENARIO_DATABASE)  # the name the parsed dbt manifest knows
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    dbt = make_dbt(url)
    ingest(url, config.landing_dir)
    dbt("run", "--exclude", GATED)
    validate_feeds(url, FEEDS)
    validate_marts(url)
    again = {o.suite: o.validated_now for o in validate_marts(url)}
    dbt("run", "--select", "int_inventory__positions")
    after_build = {o.suite: o.validated_now for o in validate_marts(url)}
    build_inventory_exceptions(url)
    if gated:  # replenishment and finance, their suite, and the exceptions again
        dbt("run", "--select", GATED)
        validate_marts(url, relations=["finance.inventory_reconciliation"])
        build_inventory_exceptions(url)
    faults = read_manifest(config.truth_dir)
    with psycopg.connect(url) as conn:
        blocking = conn.execute(
            "select exception_type, feed, location_id, sku from quality.inventory_exceptions"
            " where status = 'open' and severity = 'blocking' order by 1, 2, 3, 4"
        ).fetchall()
        failed = conn.execute(
            "select suite, check_name from quality.failed_blocking_expectations order by 1, 2"
        ).fetchall()
        types = {
            r[0] for r in conn.execute("select distinct exception_type from quality.inventory_exceptions")
        }
        reconciliation = conn.execute(
            "select location_id, sku from quality.inventory_exceptions"
            " where exception_type = 'RECONCILIATION_VARIANCE' and feed = 'finance.inventory_reconciliation'"
        ).fetchall()
    return Outcome(
        recall=fault_recall(url, faults),
        kinds_injected={f["kind"] for f in faults},
        open_blocking=blocking,
        failed_blocking_expectations=failed,
        exception_types=types,
        reconciliation_variances={(r[0], r[1]) for r in reconciliation},
        faults=faults,
        seconds=time.monotonic() - started,
        mart_revalidation={suite: (again[suite], after_build[suite]) for suite in again},
    )


@pytest.fixture(scope="module")
def worlds(pg_server: str, make_dbt, tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, Outcome]:
    faulty = run_world(pg_server, make_dbt, tmp_path_factory.mktemp("faulty"), fault_rate=0.01, gated=True)
    # Blocking exceptions come from the raw and mart suites and the dbt rules, all before the gate.
    clean = run_world(pg_server, make_dbt, tmp_path_factory.mktemp("clean"), fault_rate=0.0, gated=False)
    print(f"faulty world {faulty.seconds:.1f} s, clean world {clean.seconds:.1f} s")
    return faulty, clean


def test_every_fault_kind_has_an_exception_type() -> None:
    assert set(FAULT_EXCEPTIONS) == set(FAULT_KINDS)


def test_every_injected_fault_is_an_exception_of_its_type_and_key(worlds) -> None:
    faulty, _ = worlds
    assert faulty.kinds_injected == set(FAULT_KINDS), "the world must exercise every fault kind"
    missed = [(f["kind"], f["file"], f["location_id"], f["sku"]) for f in faulty.recall.missed]
    assert not missed, f"recall {faulty.recall.recall:.0%}; missed: {missed}"
    assert faulty.recall.found == faulty.recall.injected > 0
    print(f"recall {faulty.recall.found}/{faulty.recall.injected} by kind {faulty.recall.by_kind}")


def test_a_fault_free_run_raises_no_blocking_exception(worlds) -> None:
    _, clean = worlds
    assert clean.recall.injected == 0
    assert clean.open_blocking == []
    assert clean.failed_blocking_expectations == []


def test_the_reconciliation_suite_reports_every_count_variance(worlds) -> None:
    faulty, _ = worlds
    shrinks = {(f["location_id"], f["sku"]) for f in faulty.faults if f["kind"] == "count_variance"}
    assert shrinks and shrinks <= faulty.reconciliation_variances


def test_a_mart_view_is_validated_again_only_after_a_build_of_its_tables(worlds) -> None:
    _, clean = worlds
    assert clean.mart_revalidation == {
        "marts.atp_by_channel": (False, False),  # reads the channel ats and as_of: not rebuilt
        "marts.inventory_position": (False, True),  # reads the positions, which a build just ran over
    }
