"""A run SIGKILLed during the checks or during dbt: the next run completes, and the marts equal
those of an uninterrupted build of the same files.

The run is the platform's Dagster job in a child process (tests/reliability/job_runner.py: every
feed's ingestion, the Great Expectations raw checks and every dbt model below the inventory and
availability marts). The phase is read from Dagster's own event log, in the warehouse database:
the kill comes after the step has produced its first result (a check evaluation, a dbt model)
and before it succeeded, which the test verifies. A kill during the load itself is
tests/ingestion/test_crash_safety.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from dagster._core.events import DagsterEventType

from orchestration.lib.raw_schema import ensure_warehouse
from tests.dbt.landing_files import RULES_BATCH_1, RULES_BATCH_2, write
from tests.reliability.job_runner import GX_RAW_CHECKS_STEP
from tests.support.dbt import OWN_MODELS, Dbt, deliver, query
from tests.support.postgres import create_database
from tests.support.reliability import (
    assert_same_tables,
    finish_job,
    job_env,
    kill_job,
    newest_run,
    relations,
    run_after,
    run_events,
    start_job,
    table_contents,
    wait_for,
)

FILES = {**RULES_BATCH_1, **RULES_BATCH_2}
DBT_STEP = "omni_dbt"


@pytest.fixture(scope="module")
def uninterrupted(
    module_db: str, module_landing: Path, make_dbt: Callable[[str], Dbt]
) -> dict[str, list[tuple]]:
    deliver(module_db, module_landing, FILES)
    make_dbt(module_db)("run", *OWN_MODELS)
    return table_contents(module_db, relations(module_db, ("marts",)))


def _first_result(url: str, event_type: str, step: str, run_id: str) -> bool:
    return any(t == event_type and s == step for t, s, _ in run_events(url, run_id))


def _kill_after(env: dict[str, str], url: str, event_type: str, step: str, log: Path) -> None:
    previous = newest_run(url)
    process = start_job(env, log)
    # The new run's own events: the previous run has the same steps (and may have passed them).
    run_id = wait_for(
        lambda: run_after(url, previous and previous[0]) or process.poll() is not None,
        timeout=600,
        what="the run to be created",
        interval=0.25,
    )
    wait_for(
        lambda: process.poll() is not None or _first_result(url, event_type, step, str(run_id)),
        timeout=600,
        what=f"{event_type} of step {step}",
    )
    assert process.poll() is None, (
        f"the run ended before {step} produced a result:\n{log.read_text()[-3000:]}"
    )
    kill_job(process)
    events = run_events(url, str(run_id))
    assert ("STEP_SUCCESS", step) not in {(t, s) for t, s, _ in events}, f"{step} finished before the kill"
    # (stored as PIPELINE_SUCCESS / PIPELINE_FAILURE: Dagster keeps the old names in its records)
    ends = {DagsterEventType.RUN_SUCCESS.value, DagsterEventType.RUN_FAILURE.value}
    assert not any(t in ends for t, _, _ in events)


def test_runs_killed_during_checks_and_during_dbt_then_a_clean_run_equals_an_uninterrupted_one(
    pg_server: str, tmp_path: Path, uninterrupted: dict[str, list[tuple]]
) -> None:
    url = create_database(pg_server, "reliability_crash")
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    landing = tmp_path / "landing"
    write(landing, FILES)
    env = job_env(url, landing, tmp_path / "home", OMNI_TEST_SELECTION="inventory")

    # 1. killed while Great Expectations validates the raw feeds (some checks reported, not all)
    log = tmp_path / "killed_in_checks.log"
    _kill_after(env, url, "ASSET_CHECK_EVALUATION", GX_RAW_CHECKS_STEP, log)
    # 2. killed while dbt builds (some models materialized, not all)
    log = tmp_path / "killed_in_dbt.log"
    _kill_after(env, url, "ASSET_MATERIALIZATION", DBT_STEP, log)
    # 3. the next run completes
    log = tmp_path / "clean.log"
    finish_job(start_job(env, log), log)

    assert_same_tables(table_contents(url, relations(url, ("marts",))), uninterrupted)
    # every file loaded exactly once across the three runs
    assert query(url, "select status, count(*) from meta.file_ledger group by status") == [
        ("loaded", len(FILES))
    ]
    assert query(url, "select count(*) from raw.pos__sales") == [(5,)]
