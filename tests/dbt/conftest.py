"""Fixtures of the dbt tests: real PostgreSQL (tests/conftest.py), the real loader, real dbt in-process.

dbt runs through `dbtRunner` with a manifest parsed once per session (parsing costs seconds; each
build then only compiles and runs), into a temporary target folder so that the tests never touch
dbt_project/target. A scenario builds once per module and many tests assert on the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from dbt.cli.main import dbtRunner, dbtRunnerResult

from orchestration.lib.database import dbt_env
from orchestration.lib.loader import IngestReport, ingest
from orchestration.lib.raw_schema import ensure_warehouse
from orchestration.lib.settings import DBT_PROJECT_DIR
from tests.conftest import create_database
from tests.dbt.landing_files import Files, write

# This models: every staging model and everything the inventory and availability marts
# are built from. Later issues add models to the same project (quality, replenishment, finance)
# that need assets built outside dbt; these tests leave them out.
OWN_MODELS = (
    "--select",
    "path:models/staging",
    "+path:models/marts/inventory",
    "+path:models/marts/availability",
)

# The manifest records the database name, so every scenario uses a database of this name
# (recreated per test module) and the session's single parse serves them all.
SCENARIO_DATABASE = f"omni_dbt_{os.getpid()}"


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="session")
def dbt_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="session")
def dbt_manifest(dbt_artifacts: Path) -> Any:
    """The project parsed once (the generated sources must be current: test_dbt_sources checks it)."""
    # `dbt parse` renders the profile but never connects.
    with environment(dbt_env(f"postgresql://postgres@127.0.0.1:5432/{SCENARIO_DATABASE}")):
        result = dbtRunner().invoke(["parse", *_common_args(dbt_artifacts)])
    assert result.success, f"dbt parse failed: {result.exception}"
    return result.result


def _common_args(artifacts: Path) -> list[str]:
    return [
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(artifacts / "target"),
        "--log-path",
        str(artifacts / "logs"),
        "--log-level-file",
        "none",  # dbt's debug log costs seconds per build; failures come back in the result
        "--quiet",
    ]


def _failures(result: dbtRunnerResult) -> str:
    if result.exception is not None:
        return repr(result.exception)
    lines = []
    for node_result in getattr(result.result, "results", []) or []:
        status = str(node_result.status)
        if status in ("error", "fail", "runtime error", "skipped"):
            lines.append(f"{node_result.node.unique_id}: {status}: {node_result.message}")
    return "\n".join(lines) or "dbt failed without a node failure"


@dataclass
class Dbt:
    """dbt bound to one database: `dbt("run")`, `dbt("build", "--full-refresh")`."""

    url: str
    manifest: Any
    artifacts: Path
    invocations: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str) -> dbtRunnerResult:
        self.invocations.append(list(args))
        with environment(dbt_env(self.url)):
            result = dbtRunner(manifest=self.manifest).invoke([*args, *_common_args(self.artifacts)])
        if not result.success:
            raise AssertionError(f"dbt {' '.join(args)} failed:\n{_failures(result)}")
        return result


@pytest.fixture(scope="session")
def make_dbt(dbt_manifest: Any, dbt_artifacts: Path) -> Callable[[str], Dbt]:
    return lambda url: Dbt(url=url, manifest=dbt_manifest, artifacts=dbt_artifacts)


@pytest.fixture(scope="module")
def module_db(pg_server: str) -> Iterator[str]:
    """A fresh database for one test module (one scenario), with the raw layer created."""
    name = SCENARIO_DATABASE
    url = create_database(pg_server, name)
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    yield url
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def module_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("landing")


def deliver(url: str, landing: Path, files: Files) -> IngestReport:
    """Write files into the landing zone and load them with the real loader; all must load."""
    write(landing, files)
    report = ingest(url, landing)
    assert report.count("quarantined") == 0, [o.reason for o in report.outcomes if o.status == "quarantined"]
    return report


def query(url: str, sql: str, params: tuple | dict | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
