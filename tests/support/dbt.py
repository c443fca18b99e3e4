"""Plugin of the dbt fixtures: real PostgreSQL (tests/support/postgres.py), the real loader, real dbt in-process.

Used by the dbt, marts, quality, api, ai and reliability tests.

dbt runs in process through the production runner (orchestration/lib/dbt_runner.py: the project
parsed once per session, each build then only compiles and runs), parsing into a temporary target
folder so that the tests never touch dbt_project/target. A scenario builds once per module and many
tests assert on the result.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from dbt.cli.main import dbtRunnerResult

from orchestration.lib.database import dbt_env
from orchestration.lib.dbt_runner import InProcessDbt
from orchestration.lib.dbt_runner import temporary_environment as environment
from orchestration.lib.loader import IngestReport, ingest
from orchestration.lib.settings import DBT_PROJECT_DIR
from tests.dbt.landing_files import Files, write
from tests.support.postgres import warehouse_database

# This models: every staging model and everything the inventory and availability marts
# are built from. Later issues add models to the same project (quality, replenishment, finance)
# that need assets built outside dbt; these tests leave them out.
OWN_MODELS = (
    "--select",
    "path:models/staging",
    "+path:models/marts/inventory",
    "+path:models/marts/availability",
)

# Every scenario uses a database of this name, recreated per test module.
SCENARIO_DATABASE = f"omni_dbt_{os.getpid()}"


@pytest.fixture(scope="session")
def session_dbt() -> InProcessDbt:
    """The production in-process dbt: parses from the prepared state, which it never writes."""
    return InProcessDbt(
        project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, parse_target=DBT_PROJECT_DIR / "target"
    )


@dataclass
class Dbt:
    """dbt bound to one database: `dbt("run")`, `dbt("build", "--full-refresh")`."""

    url: str
    runner: InProcessDbt
    invocations: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str) -> dbtRunnerResult:
        self.invocations.append(list(args))
        with environment(dbt_env(self.url)):
            return self.runner.invoke(args)


@pytest.fixture(scope="session")
def make_dbt(session_dbt: InProcessDbt) -> Callable[[str], Dbt]:
    return lambda url: Dbt(url=url, runner=session_dbt)


@pytest.fixture(scope="module")
def module_db(pg_server: str) -> Iterator[str]:
    """A fresh database for one test module (one scenario), with the raw layer created."""
    with warehouse_database(pg_server, SCENARIO_DATABASE) as url:
        yield url


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
