"""On the simulator's retailer with only shrink faults (`count_variance`), the COUNT_VARIANCE
exceptions and the finance reconciliation variances point at exactly the injected (location, sku)
pairs, by the injected amount. Small world (3 stores, 1 DC, 50 skus, 1 day), the real loader, dbt
and exceptions merge, in Dagster's order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.lib.loader import ingest
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from orchestration.simulator import SimulationConfig, simulate
from tests.support.dbt import query
from tests.support.marts import GATED


@pytest.fixture(scope="module")
def shrunk_world(
    module_db: str, module_landing: Path, make_dbt, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    truth = tmp_path_factory.mktemp("truth")
    simulate(
        SimulationConfig(
            stores=3,
            dcs=1,
            skus=50,
            days=1,
            seed=7,
            fault_rate=0.5,
            fault_kinds=("count_variance",),
            landing_dir=module_landing,
            truth_dir=truth,
            quiet=True,
        )
    )
    report = ingest(module_db, module_landing)
    assert report.count("quarantined") == 0
    dbt = make_dbt(module_db)
    dbt("run", "--exclude", GATED)
    build_inventory_exceptions(module_db)
    dbt("build", "--select", GATED, "quality_rule_findings")
    faults = [json.loads(line) for line in (truth / "fault_manifest.jsonl").read_text().splitlines()]
    return {
        (f["location_id"], f["sku"]): -f["details"]["book_minus_physical"]
        for f in faults
        if f["kind"] == "count_variance"
    }


def test_only_shrink_was_injected(shrunk_world: dict) -> None:
    assert shrunk_world  # at least one pair (every enabled kind is injected at least once)


def test_count_variance_exceptions_are_the_injected_pairs(shrunk_world: dict, module_db: str) -> None:
    found = query(
        module_db,
        "select location_id, sku, (details ->> 'variance_qty')::integer from quality.inventory_exceptions"
        " where exception_type = 'COUNT_VARIANCE' and status = 'open'",
    )
    assert {(loc, sku): qty for loc, sku, qty in found} == shrunk_world


def test_reconciliation_variances_are_the_injected_pairs(shrunk_world: dict, module_db: str) -> None:
    variances = query(
        module_db,
        "select location_id, sku, variance_qty from finance.inventory_reconciliation where status = 'variance'",
    )
    assert {(loc, sku): qty for loc, sku, qty in variances} == shrunk_world
