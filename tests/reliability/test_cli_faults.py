"""Probe 10: faults a user makes or meets get one line saying what to fix, and a killed run ends."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

CLI = str(Path(sys.executable).with_name("omni-inventory"))


@pytest.fixture
def cli_env(db_url: str, landing: Path, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
    env.update(OMNI_DATABASE_URL=db_url, OMNI_LANDING_DIR=str(landing), OMNI_HOME=str(tmp_path / "home"))
    return env


def test_a_database_url_that_is_not_one_gets_one_line(cli_env) -> None:
    cli_env["OMNI_DATABASE_URL"] = "notaurl"
    result = subprocess.run([CLI, "run"], env=cli_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "Error: OMNI_DATABASE_URL='notaurl' is not a PostgreSQL URL: give "
        "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use the embedded server"
    ]


def test_a_missing_landing_zone_fails_the_run_naming_it(cli_env, tmp_path: Path) -> None:
    cli_env["OMNI_LANDING_DIR"] = str(tmp_path / "mistyped")
    result = subprocess.run([CLI, "run"], env=cli_env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"landing zone {tmp_path / 'mistyped'} does not exist" in result.stdout, result.stdout[-2000:]


def test_dev_on_a_busy_port_says_so_and_starts_nothing(cli_env) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [CLI, "dev", "--port", str(port)], env=cli_env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0 and f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert not (Path(cli_env["OMNI_HOME"]) / "dagster").exists()  # no daemon was started


def test_a_run_killed_by_a_signal_is_marked_failed_on_the_next_start(
    cli_env, db_url: str, landing: Path
) -> None:
    first = subprocess.Popen([CLI, "run"], env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    killed = None
    while killed is None:
        assert first.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no run started"
        try:
            with psycopg.connect(db_url) as conn:
                row = conn.execute("select run_id from dagster.runs where status = 'STARTED'").fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
        if row:
            killed = row[0]
            first.send_signal(signal.SIGKILL)
            first.wait()
        time.sleep(0.2)
    second = subprocess.run([CLI, "run"], env=cli_env, capture_output=True, text=True, timeout=600)
    # (whether the second run itself succeeds is the rest of the suite's business)
    assert f"run {killed} had been left unfinished by a killed process: marked failed" in second.stdout, (
        second.stdout[-3000:] + second.stderr[-3000:]
    )
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select status from dagster.runs where run_id = %s", (killed,)).fetchone() == (
            "FAILURE",
        )
    # Dagster's home (run records, compute logs) is its owner's only (docs/contract.md section 5)
    home = Path(cli_env["OMNI_HOME"]) / "dagster"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    written = [path for path in home.rglob("*") if path.is_file()]
    assert written and [p for p in written if stat.S_IMODE(p.stat().st_mode) & 0o077] == []
