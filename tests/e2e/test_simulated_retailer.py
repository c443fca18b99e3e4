"""End to end: simulator → `omni-inventory run` → marts equal the simulator's ground truth."""

from __future__ import annotations

import csv
import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from orchestration.simulator.truth import QUANTITY_COLUMNS

CLI = str(Path(sys.executable).with_name("omni-inventory"))


@pytest.fixture(scope="module")
def simulated_run(
    pg_server: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, subprocess.CompletedProcess[str]]:
    from tests.support.postgres import create_database

    home = tmp_path_factory.mktemp("e2e")
    url = create_database(pg_server, "e2e_simulated_retailer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
    env.update(OMNI_DATABASE_URL=url, OMNI_HOME=str(home))
    simulate = [
        CLI,
        "simulate",
        "--stores",
        "6",
        "--dcs",
        "2",
        "--skus",
        "80",
        "--days",
        "1",
        "--seed",
        "11",
        "--quiet",
    ]
    subprocess.run(simulate, env=env, check=True, timeout=300)
    runs = []
    for attempt in ("first", "second"):
        result = subprocess.run([CLI, "run"], env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{attempt} run failed:\n{result.stdout}\n{result.stderr[-4000:]}"
        runs.append(result)
    return url, home / "simulator", runs[0]


def _truth(truth_dir: Path) -> dict[tuple[str, str], dict[str, int]]:
    with gzip.open(truth_dir / "inventory_truth.csv.gz", "rt") as handle:
        return {
            (row["location_id"], row["sku"]): {q: int(row[q]) for q in QUANTITY_COLUMNS}
            for row in csv.DictReader(handle)
        }


def test_inventory_position_equals_ground_truth(simulated_run) -> None:
    url, truth_dir, _ = simulated_run
    truth = _truth(truth_dir)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"select location_id, sku, {', '.join(QUANTITY_COLUMNS)} from marts.inventory_position"
        ).fetchall()
    built = {(r[0], r[1]): dict(zip(QUANTITY_COLUMNS, r[2:], strict=True)) for r in rows}
    assert set(built) == set(truth)
    mismatches = {key: (built[key], truth[key]) for key in truth if built[key] != truth[key]}
    assert not mismatches, f"{len(mismatches)} positions differ, e.g. {next(iter(mismatches.items()))}"


def test_run_shows_progress_by_step_and_ends_with_the_open_exceptions(simulated_run) -> None:
    url, _, first = simulated_run
    with psycopg.connect(url) as conn:
        files = conn.execute("select count(*) from meta.file_ledger").fetchone()[0]
        by_team = conn.execute(
            "select severity, owner_team, count(*) from quality.inventory_exceptions where status = 'open' group by 1, 2"
        ).fetchall()
    # Without a terminal: one line per finished step, not one per file.
    finished = [
        line for line in first.stderr.splitlines() if re.match(r"^\[\d+/\d+\] \S+: done \(\d+\.\ds\)$", line)
    ]
    assert len(finished) >= 3, first.stderr[-2000:]
    assert len(first.stderr.splitlines()) < files, "the run printed a line per file"
    total = sum(count for _, _, count in by_team)
    assert (f"{total} open exception(s)" if total else "no open exceptions") in first.stdout
    for severity, team, count in by_team:
        assert any(
            f"{severity} / {team}" in line and line.rstrip().endswith(f" {count}")
            for line in first.stdout.splitlines()
        )
