"""Dagster's storage (dagster.yaml) keeps its PostgreSQL sessions open between events."""

import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import yaml

from orchestration.lib.database import dagster_storage_url, ensure_dagster_schema
from orchestration.lib.settings import DAGSTER_INSTANCE_TEMPLATE

LOG_LINES = 60


@dg.op
def log_lines(context: dg.OpExecutionContext) -> None:
    for line in range(LOG_LINES):
        context.log.info(f"line {line}")


@dg.job(executor_def=dg.in_process_executor)
def chatty() -> None:
    log_lines()


def sessions_opened(db_url: str, home: Path, storage: dict) -> int:
    """PostgreSQL sessions opened by one run of `chatty` on an instance with this storage; none
    is left open once the instance is disposed."""
    config = yaml.safe_load(DAGSTER_INSTANCE_TEMPLATE.read_text())
    config["storage"] = storage
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    count = "select sessions from pg_stat_database where datname = current_database()"
    with psycopg.connect(db_url, autocommit=True) as conn:
        with dg.instance_for_test(temp_dir=str(home), overrides=config) as instance:
            instance.get_runs()  # the storage is connected and its tables are in place
            conn.execute("select pg_stat_clear_snapshot()")
            before = conn.execute(count).fetchone()[0]
            assert chatty.execute_in_process(instance=instance).success
        conn.execute("select pg_stat_clear_snapshot()")
        opened = conn.execute(count).fetchone()[0] - before
        others = "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        deadline = time.monotonic() + 10
        while conn.execute(others).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert conn.execute(others).fetchone()[0] == 0, "the disposed instance left sessions open"
        return opened


def test_a_run_writes_its_events_through_a_few_sessions(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_dagster_schema(db_url)
    url = dagster_storage_url(db_url)
    monkeypatch.setenv("OMNI_DAGSTER_STORAGE_URL", url)
    product = yaml.safe_load(DAGSTER_INSTANCE_TEMPLATE.read_text())["storage"]
    assert product["custom"]["class"] == "PooledPostgresStorage"

    pooled = sessions_opened(db_url, tmp_path / "pooled", product)
    per_event = sessions_opened(db_url, tmp_path / "plain", {"postgres": {"postgres_url": url}})
    assert per_event > LOG_LINES, "dagster-postgres's own storage opens a session per event"
    assert pooled <= 6, f"{pooled} sessions for a run of {LOG_LINES}+ events"
