"""Steps that talk to the warehouse are retried with backoff when the database goes away.

The first test checks the policy is attached where a database failure can hit. The second stops
the warehouse's PostgreSQL (a real `pg_ctl stop` of a server of the test's own) in the middle of
real runs of the platform's Dagster job (tests/reliability/job_runner.py, `inventory_models`:
every feed's ingestion and every dbt model below the inventory and availability marts), with
Dagster's storage on the session's other server so that the runs' events stay readable while the
warehouse is down:

1. the warehouse stops as soon as a run has started and stays down: every step that needed it
   fails once its retries are spent, saying which database is unreachable, and Dagster marks the
   run failed;
2. the warehouse stops while the dbt step builds and is started again: the step, failed with the
   same message, is retried and the run succeeds;

and nothing is lost: every file loaded once, the marts equal an uninterrupted build.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from dagster._core.events import DagsterEventType

from orchestration.defs.retry import warehouse_retry_policy
from orchestration.lib import embedded_postgres
from orchestration.lib.database import redact
from orchestration.lib.raw_schema import ensure_warehouse
from tests.dbt.landing_files import write
from tests.support.postgres import create_database
from tests.support.reliability import (
    RULES_FILES,
    assert_each_file_loaded_once,
    assert_same_tables,
    discard_server,
    finish_job,
    job_env,
    kill_job,
    newest_run,
    relations,
    run_after,
    run_events,
    start_job,
    step_errors,
    table_contents,
    wait_for,
)

DBT_STEP = "omni_dbt"
# How Dagster stores run events (PIPELINE_START, ...: older names kept for compatibility).
RUN_START = DagsterEventType.RUN_START.value
RUN_SUCCESS = DagsterEventType.RUN_SUCCESS.value


def test_ingestion_and_dbt_steps_retry_with_exponential_backoff() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    ops = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] == "raw" or key.path[0] in ("staging", "intermediate", "marts"):
            assets_def = node.assets_def
            ops[assets_def.op.name] = assets_def.op.retry_policy
    assert {"ingest", "raw__unrouted_files", "omni_dbt"} <= set(ops)
    expected = warehouse_retry_policy()
    assert expected.backoff == dg.Backoff.EXPONENTIAL and expected.max_retries >= 2
    assert {name: policy for name, policy in ops.items() if policy != expected} == {}


@pytest.fixture
def warehouse_server() -> Iterator[Path]:
    """A PostgreSQL of this test's own for the warehouse, which the test stops and starts.

    Its folder is not under tmp_path for the reason tests/support/postgres.py's server is not: another
    pytest session pruning old temporary folders would delete the data directory under it.
    """
    pg_dir = Path(tempfile.mkdtemp(prefix="omni-test-outage-pg-"))
    try:
        yield pg_dir
    finally:
        discard_server(pg_dir)


def _finish(process: subprocess.Popen, timeout: float = 600) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_job(process)
        raise


def test_database_outage_mid_run_is_retried_once_postgres_is_back_and_fails_the_run_readably_if_not(
    pg_server: str, tmp_path: Path, warehouse_server: Path, uninterrupted_marts: dict[str, list[tuple]]
) -> None:
    pg_dir = warehouse_server
    url = embedded_postgres.start(pg_dir)
    storage = create_database(pg_server, f"omni_outage_dagster_{os.getpid()}")
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    landing = tmp_path / "landing"
    write(landing, RULES_FILES)
    selection = {"OMNI_TEST_SELECTION": "inventory_models", "OMNI_TEST_DAGSTER_STORAGE_URL": storage}
    # What a step that lost the warehouse says (its password hidden).
    unreachable = f"the warehouse database {redact(url)} is unreachable: "

    # 1. Stopped once the run has started, kept down: one retry each (OMNI_RETRY_MAX), then failed.
    log = tmp_path / "kept_down.log"
    env = job_env(
        url, landing, tmp_path / "home", **selection, OMNI_RETRY_MAX="1", OMNI_RETRY_DELAY_SECONDS="0.5"
    )
    process = start_job(env, log)
    wait_for(
        lambda: any(t == RUN_START for t, _, _ in run_events(storage)) or process.poll() is not None,
        timeout=600,
        what="the first run to start",
        interval=0.1,
    )
    assert process.poll() is None, log.read_text()[-3000:]
    embedded_postgres.stop(pg_dir)
    assert _finish(process) == 1, log.read_text()[-3000:]
    first_run, status = newest_run(storage) or ("", "")
    assert status == "FAILURE"
    failed = step_errors(storage, first_run, "STEP_FAILURE")
    retried = step_errors(storage, first_run, "STEP_UP_FOR_RETRY")
    assert failed, log.read_text()[-3000:]
    assert sorted(step for step, _ in retried) == sorted(step for step, _ in failed)
    assert [reason for _, reason in failed + retried if not reason.startswith(unreachable)] == []
    # `omni-inventory run` prints the same reason, not Dagster's "Exceeded max_retries of 1"
    output = log.read_text()
    assert all(f"step {step} failed: {reason}" in output for step, reason in failed), output[-3000:]

    # 2. Back (on the same port: running processes hold its URL), then stopped during dbt, restarted.
    assert embedded_postgres.start(pg_dir) == url
    log = tmp_path / "restarted.log"
    env = job_env(
        url, landing, tmp_path / "home", **selection, OMNI_RETRY_MAX="6", OMNI_RETRY_DELAY_SECONDS="1"
    )
    process = start_job(env, log)
    run_id = str(
        wait_for(
            lambda: run_after(storage, first_run) or process.poll() is not None,
            timeout=600,
            what="the second run to be created",
            interval=0.25,
        )
    )
    wait_for(
        lambda: (
            ("ASSET_MATERIALIZATION", DBT_STEP) in {(t, s) for t, s, _ in run_events(storage, run_id)}
            or process.poll() is not None
        ),
        timeout=600,
        what="the dbt step's first model",
        interval=0.1,
    )
    assert process.poll() is None, log.read_text()[-3000:]
    embedded_postgres.stop(pg_dir)
    wait_for(
        lambda: step_errors(storage, run_id, "STEP_UP_FOR_RETRY") or process.poll() is not None,
        timeout=600,
        what="the dbt step to ask for a retry",
        interval=0.1,
    )
    assert embedded_postgres.start(pg_dir) == url
    finish_job(process, log)
    retried = step_errors(storage, run_id, "STEP_UP_FOR_RETRY")
    assert retried[0][0] == DBT_STEP and retried[0][1].startswith(unreachable), retried
    events = {(t, s) for t, s, _ in run_events(storage, run_id)}
    assert ("STEP_SUCCESS", DBT_STEP) in events and (RUN_SUCCESS, None) in events
    assert newest_run(storage) == (run_id, "SUCCESS")

    # 3. Nothing lost, nothing twice.
    assert_each_file_loaded_once(url, landing, RULES_FILES)
    assert_same_tables(table_contents(url, relations(url, ("marts",))), uninterrupted_marts)
