"""The in-process dbt runner: one parse per process, always under the same profile, re-pointed per database."""

from __future__ import annotations

import shutil
from pathlib import Path

import dbt_common.clients.agate_helper as agate_helper
import pytest
from dbt.adapters.postgres.connections import PostgresConnectionManager

from orchestration.lib.database import dbt_env
from orchestration.lib.dbt_runner import PARTIAL_PARSE_FILE, DbtCommandError, InProcessDbt
from orchestration.lib.settings import DBT_PROJECT_DIR
from tests.dbt.landing_files import RULES_BATCH_1
from tests.support.dbt import OWN_MODELS, deliver, environment, query


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


def test_a_build_keeps_one_session_per_thread_and_restores_dbt_afterwards(
    module_db: str, module_landing: Path, make_dbt
) -> None:
    """lib/dbt_fixed_cost.py: one PostgreSQL session per dbt thread for the whole command (not one
    per node), none left open after it, and dbt's own behaviour back once the command ends."""
    release, build_type_tester = PostgresConnectionManager.release, agate_helper.build_type_tester
    deliver(module_db, module_landing, RULES_BATCH_1)

    def sessions() -> int:
        return query(module_db, "select sessions from pg_stat_database where datname = current_database()")[
            0
        ][0]

    before = sessions()
    result = make_dbt(module_db)("build", *OWN_MODELS, "--exclude-resource-type", "unit_test")
    nodes = len(result.result.results)
    opened = sessions() - before - 1  # the query's own session
    assert nodes >= 80 and opened <= 4, f"{nodes} nodes opened {opened} sessions"
    left_open = query(
        module_db,
        "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
    )[0][0]
    assert left_open == 0
    assert PostgresConnectionManager.release is release
    assert agate_helper.build_type_tester is build_type_tester
