"""Two runs started at once on one warehouse and one landing zone, connecting with a password.

Two processes each run the platform's Dagster job (tests/reliability/job_runner.py,
`inventory_models`: every feed's ingestion and every dbt model below the inventory and
availability marts) on the same files, the same warehouse database (which also holds Dagster's
storage, schema `dagster`, as `omni-inventory run` sets it up) and the same $OMNI_HOME. Both
succeed; no file is loaded twice and the marts equal one uninterrupted build. What serialises
them is the warehouse's advisory locks, not Dagster:

- ingestion: the loader's locks (orchestration/lib/loader.py, raw_copy.py). A file loads under a
  transaction-level advisory lock on its SHA-256 (`hashtextextended(hash, 0)`), held until its
  rows and its meta.file_ledger row commit, and into its raw table under the feed's lock
  (`omni.load.<raw table>`). A run that comes second to a file finds it in the ledger (reported
  `already_processed`) or no longer pending, and loads nothing. A run starting an ingestion step
  also waits, in ensure_warehouse (whose DDL needs the ledger), for the other run's loading
  transaction to end;
- dbt: each dbt step holds the session lock `omni.dbt_build` for its whole build
  (orchestration/defs/dbt/assets.py `dbt_build`), so the second build starts once the first has
  finished, and finds its work done past the watermarks;
- the Dagster pools of those steps (`omni_ingestion`, `omni_dbt`) limit nothing here: dagster.yaml
  sets no limit for them (no `concurrency:` section), so both runs' steps start at once.

Left to timing, two runs started together may just as well not meet (one is seconds ahead after
start-up). So the test lines them up with two locks it holds and lets go once both runs wait on
each (seen in pg_locks), locks the product takes with nothing else held, so holding them cannot
deadlock with the loader's own: `omni.ensure_warehouse`, which each ingestion step takes first
(lib/raw_schema.py; both runs then enter their first ingestion step together, on the same
pending files), and `omni.dbt_build` (both dbt steps wait, one builds, then the other). It does
not hold a file's lock: a run waiting for one may hold the ledger's lock (batched loads take it
first), which would stop the other run in ensure_warehouse, short of ever reaching that file.

The same runs prove that the password of OMNI_DATABASE_URL never reaches Dagster's run records:
the warehouse is a server of the test's own where the role must authenticate with it (SCRAM; the
superuser the test uses stays on trust), so every client of the run - loader, dbt, Dagster's
storage - had the password, and afterwards no row of any table of schema `dagster` (compressed
snapshots included), no file under $OMNI_HOME (DAGSTER_HOME, compute logs) and no line the runs
printed contains it.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from dagster._core.events import DagsterEventType
from psycopg import sql

from orchestration.lib import embedded_postgres
from tests.dbt.landing_files import write
from tests.support.reliability import (
    RULES_FILES,
    assert_each_file_loaded_once,
    assert_same_tables,
    discard_server,
    finish_job,
    job_env,
    kill_job,
    relations,
    start_job,
    table_contents,
    wait_for,
)

ROLE = "omni_app"
DATABASE = "omni_concurrent"
BI_ROLE = "omni_bi"  # created by a DBA, as the dbt on-run-end hook expects (dbt_project/macros/grants.sql)
DBT_STEP = "omni_dbt"
# The ingestion steps' line for a loaded file (orchestration/defs/ingestion/assets.py).
LOADED = re.compile(r"\[\d+/\d+\] (\S+): loaded,")
RUN_SUCCESS = DagsterEventType.RUN_SUCCESS.value
# pg_locks rows of sessions waiting for the advisory lock whose bigint key is %(key)s.
WAITERS = """
select count(*) from pg_locks
where locktype = 'advisory' and not granted and objsubid = 1
  and classid = ((%(key)s::bigint >> 32) & 4294967295)::oid and objid = (%(key)s::bigint & 4294967295)::oid
"""


@pytest.fixture
def password_server() -> Iterator[tuple[str, str, str]]:
    """(superuser URL, application URL with its password, the password) of a server of the test's own.

    Its pg_hba makes the application role authenticate with its password. Its folder is not under
    tmp_path for the reason tests/support/postgres.py's server is not.
    """
    pg_dir = Path(tempfile.mkdtemp(prefix="omni-test-password-pg-"))
    password = f"pw-{secrets.token_hex(16)}"  # random: a hit in the scan cannot be a coincidence
    try:
        admin = embedded_postgres.start(pg_dir)
        port = psycopg.conninfo.conninfo_to_dict(admin)["port"]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("create role {} login password {}").format(
                    sql.Identifier(ROLE), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(BI_ROLE)))
            conn.execute(
                sql.SQL("create database {} owner {}").format(sql.Identifier(DATABASE), sql.Identifier(ROLE))
            )
            # the application role must authenticate; the superuser (the test's own queries) need not
            hba_file = Path(conn.execute("show hba_file").fetchone()[0])
            hba_file.write_text(
                f"host all {embedded_postgres.SUPERUSER} 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
            )
            conn.execute("select pg_reload_conf()")
        yield (
            admin.rsplit("/", 1)[0] + f"/{DATABASE}",
            f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DATABASE}",
            password,
        )
    finally:
        discard_server(pg_dir)


def _waiters(url: str, key: int) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(WAITERS, {"key": key}).fetchone()[0]


def _rows_holding(url: str, text: str) -> list[str]:
    """Every row of every table of schema `dagster` that holds `text`, as `table: row` (shortened)."""
    found = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'dagster'"
                " and table_type = 'BASE TABLE'"
            )
        ]
        assert {"runs", "event_logs", "run_tags", "snapshots"} <= set(tables), tables
        for table in tables:
            for row in conn.execute(sql.SQL("select * from {}").format(sql.Identifier("dagster", table))):
                row_text = " ".join(_as_text(value) for value in row)
                if text in row_text:
                    found.append(f"{table}: {row_text[:200]}")
    return found


def _as_text(value: object) -> str:
    # Dagster stores snapshots (job, execution plan) as zlib-compressed JSON in bytea columns.
    if isinstance(value, bytes | memoryview):
        raw = bytes(value)
        with contextlib.suppress(zlib.error):  # not compressed: searched as it is
            raw = zlib.decompress(raw)
        return raw.decode("utf-8", errors="replace")
    return str(value)


def test_two_runs_at_once_load_each_file_once_build_in_turn_and_never_record_the_password(
    tmp_path: Path,
    password_server: tuple[str, str, str],
    uninterrupted_marts: dict[str, list[tuple]],
) -> None:
    admin, url, password = password_server
    # The role cannot log in without its password: every client of the runs must have used it.
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url.replace(f":{password}@", "@")).close()
    landing = tmp_path / "landing"
    write(landing, RULES_FILES)
    home = tmp_path / "home"  # one $OMNI_HOME, as for two `omni-inventory run` in one project
    logs = [tmp_path / "run_a.log", tmp_path / "run_b.log"]
    env = job_env(url, landing, home, OMNI_TEST_SELECTION="inventory_models")
    with psycopg.connect(admin, autocommit=True) as holder:
        # the keys of the product's locks (pg_advisory_lock(hashtext(...)) takes them as bigint)
        setup_key, dbt_key = holder.execute(
            "select hashtext('omni.ensure_warehouse')::bigint, hashtext('omni.dbt_build')::bigint"
        ).fetchone()
        holder.execute("select pg_advisory_lock(%s), pg_advisory_lock(%s)", (setup_key, dbt_key))
        processes = [start_job(env, log) for log in logs]

        def both_wait(key: int, what: str) -> None:
            wait_for(
                lambda: _waiters(admin, key) == 2 or any(p.poll() is not None for p in processes),
                timeout=600,
                what=what,
                interval=0.25,
            )
            assert all(p.poll() is None for p in processes), [log.read_text()[-3000:] for log in logs]

        try:
            # Each job also creates the warehouse before its run (orchestration/pipeline.py prepare): let both
            # pass (the lock serves them in turn, then the test again), then line them up at the
            # first ingestion step.
            both_wait(setup_key, "both jobs to prepare the warehouse")
            holder.execute("select pg_advisory_unlock(%s)", (setup_key,))
            holder.execute("select pg_advisory_lock(%s)", (setup_key,))
            both_wait(setup_key, "both runs to reach their first ingestion step")
            holder.execute("select pg_advisory_unlock(%s)", (setup_key,))
            both_wait(dbt_key, "both dbt steps to wait for the build lock")
            holder.execute("select pg_advisory_unlock(%s)", (dbt_key,))
            for process, log in zip(processes, logs, strict=True):
                finish_job(process, log)
        finally:
            for process in processes:
                if process.poll() is None:
                    kill_job(process)

    outputs = [log.read_text() for log in logs]
    # Each file reported loaded by one run only (the other found it done or no longer pending) ...
    reported = [name for out in outputs for name in LOADED.findall(out)]
    assert sorted(reported) == sorted(RULES_FILES)
    # ... and in the warehouse: one ledger row per file, each raw table holding its files' rows once.
    assert_each_file_loaded_once(admin, landing, RULES_FILES)
    with psycopg.connect(admin) as conn:
        runs = conn.execute("select run_id, status from dagster.runs").fetchall()
        assert sorted(status for _, status in runs) == ["SUCCESS", "SUCCESS"]
        # The two dbt builds did not interleave: every model of one run precedes every model of the other.
        spans = conn.execute(
            "select min(id), max(id) from dagster.event_logs where step_key = %s"
            " and dagster_event_type = 'ASSET_MATERIALIZATION' group by run_id order by 1",
            (DBT_STEP,),
        ).fetchall()
        assert len(spans) == 2 and spans[0][1] < spans[1][0], spans
        assert conn.execute(
            "select count(*) from dagster.event_logs where dagster_event_type = %s", (RUN_SUCCESS,)
        ).fetchone() == (2,)
    assert_same_tables(table_contents(admin, relations(admin, ("marts",))), uninterrupted_marts)

    # The password is nowhere in Dagster's records, $OMNI_HOME or what the runs printed ...
    assert _rows_holding(admin, password) == []
    files = [path for path in home.rglob("*") if path.is_file()]
    assert {"dagster.yaml", "compute_logs"} <= {part for path in files for part in path.parts}
    assert [str(path) for path in [*files, *logs] if password.encode() in path.read_bytes()] == []
    # ... though the scan does read them: the runs' log lines name the files they loaded.
    assert _rows_holding(admin, reported[0])
