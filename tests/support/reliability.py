"""Helpers of the reliability suite: table snapshots, Dagster runs in a child process, phases.

Scenarios built with the fast in-process dbt (the dbt plugin, tests/support/dbt.py) and scenarios
run through the real Dagster job compare against the same marts (tests/reliability/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psycopg
from dagster import EventLogEntry
from dagster._serdes import deserialize_value
from psycopg import sql

from orchestration.lib import embedded_postgres
from orchestration.lib.landing import scan
from orchestration.pipeline import failure_reason
from tests.dbt.landing_files import RULES_BATCH_1, RULES_BATCH_2, Files

ROOT = Path(__file__).resolve().parents[2]
# What BI reads; build bookkeeping columns that hold the wall clock are left out of comparisons.
OUTPUT_SCHEMAS = ("marts", "quality", "replenishment", "finance", "ops")
WALL_CLOCK_COLUMNS = frozenset(
    {
        "_loaded_at",
        "loaded_at",
        "built_at",
        "detected_at",
        "validated_at",
        "recorded_at",
        "first_seen_at",
        "last_seen_at",
        "started_at",
        "finished_at",
        "seconds",
        "load_seconds",
        "discovered_at",
    }
)


def relations(url: str, schemas: Iterable[str]) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema = any(%s) order by 1, 2",
            (list(schemas),),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def table_contents(
    url: str, tables: Iterable[tuple[str, str]], *, skip_columns: frozenset[str] = WALL_CLOCK_COLUMNS
) -> dict[str, list[tuple]]:
    """Every row of every table (as sorted tuples of text), wall-clock columns left out."""
    contents: dict[str, list[tuple]] = {}
    with psycopg.connect(url) as conn:
        for schema, table in tables:
            columns = [
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_schema = %s"
                    " and table_name = %s order by ordinal_position",
                    (schema, table),
                )
                if r[0] not in skip_columns
            ]
            rows = conn.execute(
                sql.SQL("select {} from {}").format(
                    sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns),
                    sql.Identifier(schema, table),
                )
            ).fetchall()
            contents[f"{schema}.{table}"] = sorted(
                rows, key=lambda row: tuple((v is None, v or "") for v in row)
            )
    return contents


def assert_same_tables(actual: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> None:
    assert sorted(actual) == sorted(expected)
    different = [name for name in expected if actual[name] != expected[name]]
    assert not different, "tables differ: " + "; ".join(
        f"{name}: {len(actual[name])} rows vs {len(expected[name])}, e.g. "
        f"{sorted(set(actual[name]) ^ set(expected[name]))[:3]}"
        for name in different
    )


# The rules scenario of tests/dbt in one delivery: the small world the disturbed runs load.
RULES_FILES: Files = {**RULES_BATCH_1, **RULES_BATCH_2}


def assert_each_file_loaded_once(url: str, landing: Path, files: Files) -> None:
    """One ledger row per file, 'loaded', and every raw table holding exactly its files' rows."""
    with psycopg.connect(url) as conn:
        ledger = conn.execute("select file_path, status from meta.file_ledger order by 1, 2").fetchall()
        expected: dict[str, int] = {}
        for item in scan(landing):
            assert item.feed is not None, item.problem
            # CSV without quoted line breaks: one row per line after the header
            rows = len(files[item.relative].strip().splitlines()) - 1
            expected[item.feed.raw_table] = expected.get(item.feed.raw_table, 0) + rows
        counts = {
            table: conn.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier("raw", table))
            ).fetchone()[0]
            for table in expected
        }
    assert ledger == sorted((path, "loaded") for path in files)
    assert counts == expected


def discard_server(pg_dir: Path) -> None:
    """Stop a test's own embedded PostgreSQL and delete it.

    Immediate mode: a fast stop writes every dirty buffer out first (seconds after a dbt build),
    for data deleted next.
    """
    if (pg_dir / "data" / "PG_VERSION").exists():
        embedded_postgres._pg(
            "pg_ctl", "-D", str(pg_dir / "data"), "-m", "immediate", "-w", "stop", check=False
        )
    shutil.rmtree(pg_dir, ignore_errors=True)


def wait_for(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.02) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- Dagster runs in a child process ----------------------------------------------------------


def job_env(url: str, landing: Path, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
    env.update(OMNI_DATABASE_URL=url, OMNI_LANDING_DIR=str(landing), OMNI_HOME=str(home), **extra)
    return env


def start_job(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`python -m tests.reliability.job_runner` in its own process group (the run worker and its children)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.job_runner"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def finish_job(process: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()[-6000:]


def kill_job(process: subprocess.Popen) -> None:
    """SIGKILL of the run worker and everything it started (what an OOM kill or a lost node does)."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def run_events(url: str, run_id: str | None = None) -> list[tuple[str, str | None, str | None]]:
    """(event type, step key, asset key) of the newest run (or `run_id`), from Dagster's event log."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('dagster.event_logs')").fetchone()[0] is None:
            return []
        if run_id is None:
            row = conn.execute(
                "select run_id from dagster.runs order by create_timestamp desc limit 1"
            ).fetchone()
            if row is None:
                return []
            run_id = row[0]
        rows = conn.execute(
            "select dagster_event_type, step_key, asset_key from dagster.event_logs"
            " where run_id = %s and dagster_event_type is not null order by id",
            (run_id,),
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def step_reached(url: str, event_type: str, step_prefix: str) -> bool:
    return any(t == event_type and (s or "").startswith(step_prefix) for t, s, _ in run_events(url))


def newest_run(url: str) -> tuple[str, str] | None:
    """(run id, status) of the newest run in Dagster's storage at `url`."""
    with psycopg.connect(url) as conn:
        if conn.execute("select to_regclass('dagster.runs')").fetchone()[0] is None:
            return None
        row = conn.execute(
            "select run_id, status from dagster.runs order by create_timestamp desc limit 1"
        ).fetchone()
    return (row[0], row[1]) if row else None


def run_after(url: str, previous: str | None) -> str | None:
    """The id of the newest run if it is not `previous`: the run a just-started job has created.

    Until the job creates its run, the newest run is an earlier one, whose events must not be
    taken for the new run's.
    """
    run = newest_run(url)
    return run[0] if run and run[0] != previous else None


def step_errors(url: str, run_id: str, event_type: str) -> list[tuple[str, str]]:
    """(step key, reason) of every STEP_FAILURE or STEP_UP_FOR_RETRY event of a run, in order.

    The reason is what `omni-inventory run` prints for a failed step (orchestration/pipeline.py failure_reason),
    read from the event Dagster stored.
    """
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select step_key, event from dagster.event_logs where run_id = %s and dagster_event_type = %s"
            " order by id",
            (run_id, event_type),
        ).fetchall()
    errors = []
    for step, body in rows:
        entry = deserialize_value(body, EventLogEntry)
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        errors.append((step, failure_reason(getattr(data, "error", None))))
    return errors
