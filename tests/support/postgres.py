"""Plugin of the shared fixtures: one real embedded PostgreSQL per test session, a fresh database per test."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from orchestration.lib import embedded_postgres
from orchestration.lib.raw_schema import ensure_warehouse

_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """URL of the server's maintenance database; OMNI_TEST_DATABASE_URL points at another server."""
    external = os.environ.get("OMNI_TEST_DATABASE_URL")
    if external:
        yield external
        return
    # Not under pytest's tmp_path: pytest prunes old basetemp folders, which would delete the data
    # directory of a server another concurrent pytest session is still using.
    pg_dir = Path(tempfile.mkdtemp(prefix="omni-test-pg-"))
    try:
        url = embedded_postgres.start(pg_dir)
        yield url.rsplit("/", 1)[0] + "/postgres"
    finally:
        embedded_postgres.stop(pg_dir)
        shutil.rmtree(pg_dir, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def warehouse_database(server_url: str, name: str) -> Iterator[str]:
    """A fresh database `name` with the raw layer and ledger created, dropped afterwards."""
    url = create_database(server_url, name)
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def db_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database with the raw layer and ledger created."""
    with warehouse_database(pg_server, f"t{os.getpid()}_{next(_db_counter)}") as url:
        yield url


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path
