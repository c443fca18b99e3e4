"""The `omni-inventory` command end to end: run (headless) and dev (Dagster UI over GraphQL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from orchestration.defs.ingestion.sensors import LANDING_SENSOR
from orchestration.lib.feeds import get_feed
from tests.feed_files import feed_dir, sample_rows, write_rows

CLI = str(Path(sys.executable).with_name("omni-inventory"))


@pytest.fixture
def cli_env(db_url: str, landing: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
    env.update(OMNI_DATABASE_URL=db_url, OMNI_LANDING_DIR=str(landing), OMNI_HOME=str(tmp_path / "home"))
    return env


def test_run_loads_pending_files_reports_quarantine_and_is_idempotent(
    cli_env, db_url: str, landing: Path
) -> None:
    items = get_feed("erp", "items")
    write_rows(feed_dir(landing, items), "items.csv", sample_rows(items, 3))
    (feed_dir(landing, items) / "broken.csv").write_text("sku\nA\n")

    first = subprocess.run([CLI, "run"], env=cli_env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "succeeded" in first.stdout
    assert "missing required column(s)" in first.stderr  # the quarantine reason is in the run's log

    with psycopg.connect(db_url) as conn:
        before = conn.execute("select count(*), sum(hashtext(sku)) from raw.erp__items").fetchone()
        runs = conn.execute("select count(*) from dagster.runs").fetchone()[0]
    assert before[0] == 3 and runs == 1  # Dagster's own storage is in the same database

    second = subprocess.run([CLI, "run"], env=cli_env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*), sum(hashtext(sku)) from raw.erp__items").fetchone() == before
        assert conn.execute("select count(*) from meta.file_ledger").fetchone()[0] == 2


def test_run_fails_readably_when_the_database_is_unreachable(cli_env) -> None:
    cli_env["OMNI_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    result = subprocess.run([CLI, "run"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "127.0.0.1" in result.stderr and "Traceback" not in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_dev_serves_the_asset_graph_sensors_and_schedules(cli_env, tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "dev.log"
    process = subprocess.Popen(
        [CLI, "dev", "--port", str(port)],
        env=cli_env,
        start_new_session=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        assets: list[str] = []
        while time.monotonic() < deadline and not assets:
            assert process.poll() is None, log.read_text()
            assert "Error loading repository location" not in log.read_text(), log.read_text()
            try:
                data = _graphql(port, "{ assetNodes { assetKey { path } } }")
                assets = ["/".join(node["assetKey"]["path"]) for node in data["data"]["assetNodes"]]
            except (OSError, KeyError, TypeError):
                time.sleep(1)
        assert "raw/pos__sales" in assets and "raw/erp__items" in assets
        data = _graphql(
            port,
            '{ repositoryOrError(repositorySelector: {repositoryLocationName: "omni_inventory",'
            ' repositoryName: "__repository__"}) { ... on Repository { sensors { name } schedules { name } } } }',
        )
        repo = data["data"]["repositoryOrError"]
        assert LANDING_SENSOR in {s["name"] for s in repo["sensors"]}
        assert "erp_master_hourly" in {s["name"] for s in repo["schedules"]}
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
