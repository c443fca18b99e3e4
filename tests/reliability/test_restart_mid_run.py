"""Probe 9: a restart of the single embedded server in the middle of a run is retried.

The embedded default keeps the warehouse and Dagster's own storage on one PostgreSQL: `db stop`
while dbt builds cuts off both the step's connections and the run's event writes. The step is
retried once the server is back, the storage reconnects, and the run succeeds with every file
loaded once (docs/contract.md section 5).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orchestration.lib import embedded_postgres
from orchestration.lib.raw_schema import ensure_warehouse
from tests.dbt.landing_files import write
from tests.support.reliability import (
    RULES_FILES,
    assert_each_file_loaded_once,
    discard_server,
    finish_job,
    job_env,
    newest_run,
    run_events,
    start_job,
    step_errors,
    wait_for,
)

DBT_STEP = "omni_dbt"
DOWN_SECONDS = 10


@pytest.fixture
def single_server() -> Iterator[Path]:
    """The test's own embedded server, for the warehouse and Dagster alike (not under tmp_path:
    see tests/support/postgres.py)."""
    pg_dir = Path(tempfile.mkdtemp(prefix="omni-test-restart-pg-"))
    try:
        yield pg_dir
    finally:
        discard_server(pg_dir)


def test_a_restart_of_the_single_server_mid_dbt_is_retried_and_the_run_succeeds(
    tmp_path: Path, single_server: Path
) -> None:
    url = embedded_postgres.start(single_server)
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    landing = tmp_path / "landing"
    write(landing, RULES_FILES)
    env = job_env(
        url,
        landing,
        tmp_path / "home",
        OMNI_TEST_SELECTION="inventory_models",
        OMNI_RETRY_DELAY_SECONDS="1",
    )
    log = tmp_path / "run.log"
    process = start_job(env, log)
    wait_for(
        lambda: (
            ("STEP_START", DBT_STEP) in {(t, s) for t, s, _ in run_events(url)} or process.poll() is not None
        ),
        timeout=600,
        what="the dbt step to start",
        interval=0.1,
    )
    assert process.poll() is None, log.read_text()[-3000:]
    time.sleep(2)  # as the probe: two seconds into dbt
    embedded_postgres.stop(single_server)
    # Down for longer than dagster-postgres's own connection retries last (about 6 s): a restart
    # of a loaded server takes that long.
    time.sleep(DOWN_SECONDS)
    assert embedded_postgres.start(single_server) == url
    finish_job(process, log)

    run_id, status = newest_run(url) or ("", "")
    assert status == "SUCCESS"
    assert [step for step, _ in step_errors(url, run_id, "STEP_UP_FOR_RETRY")] == [DBT_STEP]
    assert_each_file_loaded_once(url, landing, RULES_FILES)
