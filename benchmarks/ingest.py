"""Loader throughput against the bare COPY limit, measured in the same run on the same bytes.

    .venv/bin/python -m benchmarks.ingest [--rows 2000000] [--json benchmarks/results/ingest.json]

Starts (or reuses) the embedded PostgreSQL in a scratch OMNI_HOME unless OMNI_DATABASE_URL is set,
loads the same CSV file three ways into a scratch database, and prints rows/s and ratios:
- bare COPY into an UNLOGGED typed table (the ceiling: no WAL, no checks, no metadata),
- bare COPY into a logged typed table (what any durable load pays),
- the platform's loader (hash, ledger, typed staging with ISO checks, raw table with metadata).
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import report, scratch_warehouse
from orchestration.lib.loader import ingest

COLUMNS = "location_id text, sku text, on_hand integer, damaged integer, snapshot_ts timestamptz"


def write_snapshot(path: Path, rows: int, compress: bool) -> None:
    opener = gzip.open if compress else open
    with opener(path, "wt") as handle:
        handle.write("location_id,sku,on_hand,damaged,snapshot_ts\n")
        for i in range(rows):
            handle.write(f"S{i // 20000:04d},SKU{i % 20000:05d},{i % 97},{i % 3},2026-11-01T00:00:00Z\n")


def bare_copy(url: str, path: Path, unlogged: bool) -> float:
    kind = "unlogged" if unlogged else ""
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists bench_copy")
        conn.execute(f"create {kind} table bench_copy ({COLUMNS})")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy("copy bench_copy from stdin with (format csv, header true)") as copy, open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()

    url = scratch_warehouse("omni_bench")

    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        folder = landing / "pos" / "inventory"
        folder.mkdir(parents=True)
        path = folder / "snapshot.csv"
        write_snapshot(path, args.rows, compress=False)
        size_mb = path.stat().st_size / 1e6

        unlogged = bare_copy(url, path, unlogged=True)
        logged = bare_copy(url, path, unlogged=False)
        started = time.perf_counter()
        loaded = ingest(url, landing)
        loader = time.perf_counter() - started
        assert loaded.rows_loaded == args.rows, loaded.summary()

    results = {
        "rows": args.rows,
        "file_mb": round(size_mb, 1),
        "bare_copy_unlogged_rows_per_s": round(args.rows / unlogged),
        "bare_copy_logged_rows_per_s": round(args.rows / logged),
        "loader_rows_per_s": round(args.rows / loader),
        "loader_vs_unlogged_copy": round(unlogged / loader, 3),
        "loader_vs_logged_copy": round(logged / loader, 3),
    }
    report(results, args.json)


if __name__ == "__main__":
    main()
