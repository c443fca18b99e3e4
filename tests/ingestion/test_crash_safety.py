"""A load killed mid-COPY leaves nothing behind, and the next run loads every file exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from orchestration.lib.feeds import get_feed
from orchestration.lib.loader import ingest
from tests.feed_files import feed_dir, sample_rows, write_rows

ROWS = 400_000


def _big_sales_file(folder: Path) -> Path:
    path = folder / "big_sales.csv"
    with open(path, "w") as handle:
        handle.write("event_id,location_id,sku,qty,event_ts\n")
        for i in range(ROWS):
            handle.write(
                f"big{i},S{i % 300:04d},SKU{i % 5000:05d},{i % 7 + 1},2026-11-01T{i % 24:02d}:00:00Z\n"
            )
    return path


def test_killed_load_leaves_no_partial_rows_and_rerun_loads_once(db_url: str, landing: Path) -> None:
    feed = get_feed("pos", "sales")
    folder = feed_dir(landing, feed)
    write_rows(folder, "z_small.csv", sample_rows(feed, 3))  # loads after the big one
    _big_sales_file(folder)
    script = (
        "import sys; from pathlib import Path; from orchestration.lib.loader import ingest; "
        "ingest(sys.argv[1], Path(sys.argv[2]))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, db_url, str(landing)], cwd=Path(__file__).parents[2]
    )
    # Only this test's database: other tests' loads run on the same server at the same time.
    loader_copying = (
        "select count(*) from pg_stat_activity where datname = current_database()"
        " and pid <> pg_backend_pid() and query ilike 'copy%%' and state {}"
    )
    try:
        with psycopg.connect(db_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 120  # a loaded CI machine takes its time to start Python
            while not watcher.execute(loader_copying.format("= 'active'")).fetchone()[0]:
                if child.poll() is not None:
                    raise AssertionError(f"the loader exited ({child.returncode}) before it was seen copying")
                if time.monotonic() > deadline:
                    sessions = watcher.execute(
                        "select state, wait_event_type, wait_event, left(query, 80) from pg_stat_activity"
                        " where datname = current_database() and pid <> pg_backend_pid()"
                    ).fetchall()
                    raise AssertionError(f"the loader never started its COPY; its sessions: {sessions}")
                time.sleep(0.005)
            os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # autocommit: within a transaction pg_stat_activity is a snapshot that never changes
    with psycopg.connect(db_url, autocommit=True) as conn:
        # Wait for the server to notice the dead client and roll its transaction back.
        deadline = time.monotonic() + 30
        while conn.execute(loader_copying.format("<> 'idle'")).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed loader's session outlived it by 30 s"
            time.sleep(0.05)
        statuses = dict(conn.execute("select file_path, status from meta.file_ledger").fetchall())
        big_rows = conn.execute("select count(*) from raw.pos__sales where event_id like 'big%%'").fetchone()[
            0
        ]
    assert "pos/sales/big_sales.csv" not in statuses
    assert big_rows == 0

    report = ingest(db_url, landing)

    with psycopg.connect(db_url) as conn:
        total = conn.execute(
            "select count(*), count(distinct (_load_id, _row_number)) from raw.pos__sales"
        ).fetchone()
    assert total == (ROWS + 3, ROWS + 3)
    assert ingest(db_url, landing).outcomes == []
    assert report.count("quarantined") == 0
