"""The in-process dbt runner: one parse per process, always under the same profile, re-pointed per database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration.lib.database import dbt_env
from orchestration.lib.dbt_runner import PARTIAL_PARSE_FILE, DbtCommandError, InProcessDbt
from orchestration.lib.settings import DBT_PROJECT_DIR
from tests.dbt.conftest import environment


def test_parse_once_from_the_prepared_state_and_follow_the_database(pg_server: str, tmp_path: Path) -> None:
    server = pg_server.rsplit("/", 1)[0]  # a real server; the databases need not exist

    def runner(prepared: Path) -> InProcessDbt:
        return InProcessDbt(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, parse_target=prepared)

    with environment(dbt_env(f"{server}/omni_first")):
        prepared = tmp_path / "prepared"
        prepared.mkdir()
        shutil.copy2(DBT_PROJECT_DIR / "target" / PARTIAL_PARSE_FILE, prepared / PARTIAL_PARSE_FILE)
        first = runner(prepared)
        manifest = first.manifest()
        # the build-time state serves a process whatever its database: the parse profile is fixed
        assert first.full_parse_reason is None
        assert {s.database for s in manifest.sources.values()} == {"omni_first"}
        assert [p.name for p in prepared.iterdir()] == [PARTIAL_PARSE_FILE]  # read, never written
    with environment(dbt_env(f"{server}/omni_second")):
        assert first.manifest() is manifest  # not parsed again, re-pointed
        assert {s.database for s in manifest.sources.values()} == {"omni_second"}
        assert all(
            node.relation_name.startswith('"omni_second".')
            for node in manifest.nodes.values()
            if getattr(node, "relation_name", None)
        )
        with pytest.raises(DbtCommandError, match="no_such_macro") as failed:
            first.invoke(["run-operation", "no_such_macro"])
        assert not failed.value.outage  # a project error: retrying would fail the same way
    with environment(dbt_env("postgresql://postgres@127.0.0.1:9/omni_second")):  # nothing listens
        with pytest.raises(DbtCommandError) as failed:
            first.invoke(["run-operation", "omni_grant_bi_access"])
        assert failed.value.outage, str(failed.value)  # the database is away: worth a retry
