"""Two loads started at once (a sensor's run and a manual one) never load a file twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from orchestration.lib.feeds import get_feed
from tests.feed_files import feed_dir, sample_rows, write_rows

LOAD = (
    "import sys; from pathlib import Path; from orchestration.lib.loader import ingest; "
    "r = ingest(sys.argv[1], Path(sys.argv[2])); print(r.summary())"
)


def test_concurrent_loads_share_the_files_and_load_each_once(db_url: str, landing: Path) -> None:
    sales, inventory = get_feed("pos", "sales"), get_feed("pos", "inventory")
    for i in range(12):
        rows = sample_rows(sales, 50, event_ts=f"2026-11-01T{i:02d}:00:00Z")
        for n, row in enumerate(rows):
            row["event_id"] = f"f{i}_{n}"
        write_rows(feed_dir(landing, sales), f"sales_{i:02d}.csv", rows)
        write_rows(
            feed_dir(landing, inventory),
            f"inv_{i:02d}.jsonl",
            sample_rows(inventory, 20, snapshot_ts=f"2026-11-01T{i:02d}:00:00Z"),
        )
    # The same bytes under a second name, possibly picked by the other process first.
    (feed_dir(landing, sales) / "sales_00_again.csv").write_bytes(
        (feed_dir(landing, sales) / "sales_00.csv").read_bytes()
    )

    root = Path(__file__).parents[2]
    loaders = [
        subprocess.Popen(
            [sys.executable, "-c", LOAD, db_url, str(landing)], cwd=root, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in loaders]
    assert all(p.returncode == 0 for p in loaders), outputs

    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*), count(distinct event_id) from raw.pos__sales").fetchone() == (
            600,
            600,
        )
        assert conn.execute("select count(*) from raw.pos__inventory").fetchone()[0] == 240
        statuses = conn.execute(
            "select status, count(*) from meta.file_ledger group by status order by status"
        ).fetchall()
    assert statuses == [("duplicate", 1), ("loaded", 24)]
