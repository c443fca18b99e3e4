"""End to end: simulator → `omni-inventory run` → marts equal the simulator's ground truth."""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from orchestration.simulator.truth import QUANTITY_COLUMNS

CLI = str(Path(sys.executable).with_name("omni-inventory"))


@pytest.fixture(scope="module")
def simulated_run(pg_server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from tests.conftest import create_database

    home = tmp_path_factory.mktemp("e2e")
    url = create_database(pg_server, "e2e_simulated_retailer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
    env.update(OMNI_DATABASE_URL=url, OMNI_HOME=str(home))
    simulate = [CLI, "simulate", "--stores", "6", "--dcs", "2", "--skus", "80", "--days", "1", "--seed", "11", "--quiet"]
    subprocess.run(simulate, env=env, check=True, timeout=300)
    for attempt in ("first", "second"):
        result = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{attempt} run failed:\n{result.stdout}\n{result.stderr[-4000:]}"
    return url, home / "simulator"


def _truth(truth_dir: Path) -> dict[tuple[str, str], dict[str, int]]:
    with gzip.open(truth_dir / "inventory_truth.csv.gz", "rt") as handle:
        return {
            (row["location_id"], row["sku"]): {q: int(row[q]) for q in QUANTITY_COLUMNS} for row in csv.DictReader(handle)
        }


def test_inventory_position_equals_ground_truth(simulated_run) -> None:
    url, truth_dir = simulated_run
    truth = _truth(truth_dir)
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"select location_id, sku, {', '.join(QUANTITY_COLUMNS)} from marts.inventory_position").fetchall()
    built = {(r[0], r[1]): dict(zip(QUANTITY_COLUMNS, r[2:], strict=True)) for r in rows}
    assert set(built) == set(truth)
    mismatches = {key: (built[key], truth[key]) for key in truth if built[key] != truth[key]}
    assert not mismatches, f"{len(mismatches)} positions differ, e.g. {next(iter(mismatches.items()))}"
