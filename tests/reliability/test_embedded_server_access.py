"""Probe 7: the embedded server asks every role for a password, and its files are its owner's."""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from orchestration.lib import embedded_postgres


@pytest.fixture(scope="module")
def server() -> tuple[Path, str]:
    pg_dir = Path(tempfile.mkdtemp(prefix="omni-access-pg-"))
    try:
        yield pg_dir, embedded_postgres.start(pg_dir)
    finally:
        embedded_postgres.stop(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)


def test_a_connection_without_the_password_is_refused(server: tuple[Path, str]) -> None:
    _, url = server
    port = url.rsplit(":", 1)[1].split("/")[0]
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/omni", connect_timeout=5)
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_user").fetchone() == ("postgres",)


def test_no_other_user_can_reach_the_server_or_read_its_files(server: tuple[Path, str]) -> None:
    pg_dir, url = server
    for path in (pg_dir / "postgres.log", pg_dir / "port", pg_dir / "secrets" / "postgres.password"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert stat.S_IMODE((pg_dir / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((pg_dir / "data").stat().st_mode) & 0o077 == 0
    runuser, psql = shutil.which("runuser"), embedded_postgres.POSTGRES_BIN_PATH / "psql"
    if runuser is None or not psql.exists():
        pytest.skip("runuser or psql is not available")
    port = url.rsplit(":", 1)[1].split("/")[0]
    probe = subprocess.run(
        [runuser, "-u", "nobody", "--", str(psql), "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-w",
         "-c", "copy (select 1) to program 'id'", "omni"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert probe.returncode != 0 and "password" in probe.stderr, probe.stderr
    cat = subprocess.run(
        [runuser, "-u", "nobody", "--", "cat", str(pg_dir / "postgres.log")], capture_output=True, text=True
    )
    assert cat.returncode != 0


def test_a_data_directory_initialised_with_trust_is_given_passwords_on_start(
    server: tuple[Path, str],
) -> None:
    pg_dir, url = server
    hba = pg_dir / "data" / "pg_hba.conf"
    saved = hba.read_text()
    hba.write_text("host all all 127.0.0.1/32 trust\n")  # what an older version wrote
    embedded_postgres.stop(pg_dir)
    try:
        assert embedded_postgres.start(pg_dir) == url
        assert "trust" not in hba.read_text()
        port = url.rsplit(":", 1)[1].split("/")[0]
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/omni", connect_timeout=5)
    finally:
        if "scram" not in hba.read_text():
            hba.write_text(saved)
