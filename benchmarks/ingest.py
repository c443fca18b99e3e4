"""Loader throughput against the bare COPY limit, measured in the same run on the same rows.

    .venv/bin/python -m benchmarks.ingest [--rows 2000000] [--stores 10 --skus 500] [--repeat 3]
        [--skip big|day] [--json benchmarks/results/ingest.json]

Starts (or reuses) the embedded PostgreSQL in a scratch OMNI_HOME unless OMNI_DATABASE_URL is set,
and measures two workloads, each against bare COPY of the same rows into UNLOGGED tables of the
same column types (the ceiling: no WAL, no checks, no metadata, no ledger):

- big: one generated CSV snapshot of --rows rows. Bare COPY into an unlogged and into a logged
  table (what any durable load pays), then the loader (hash, ledger, checks, raw table with
  metadata) on a fresh database;
- day: one simulated day of a retailer (--stores x --skus, the simulator's mix of CSV, gzipped
  CSV, JSON lines and Parquet: about a thousand small files at the defaults). The bare side
  COPYs each file's rows, converted to plain CSV beforehand (not timed), one COPY per file
  into its feed's unlogged table; the loader ingests the landing zone on a fresh database.

Each workload runs --repeat times, bare and loader back to back; a ratio is the median of the
repetitions' bare seconds / loader seconds (1.0 = as fast as bare COPY), so a burst of load from
other processes skews one pair, not the result. The 1-, 5- and 15-minute load averages before
and after are part of the report: compare ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.common import report, scratch_warehouse
from orchestration.lib.landing import LandingFile, scan
from orchestration.lib.loader import ingest

COLUMNS = "location_id text, sku text, on_hand integer, damaged integer, snapshot_ts timestamptz"
CHUNK = 1 << 20


def write_snapshot(path: Path, rows: int, compress: bool) -> None:
    opener = gzip.open if compress else open
    with opener(path, "wt") as handle:
        handle.write("location_id,sku,on_hand,damaged,snapshot_ts\n")
        for i in range(rows):
            handle.write(f"S{i // 20000:04d},SKU{i % 20000:05d},{i % 97},{i % 3},2026-11-01T00:00:00Z\n")


def _copy_file(conn: psycopg.Connection, statement: str, path: Path) -> None:
    with conn.cursor().copy(statement) as copy, open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            copy.write(chunk)


def bare_copy(url: str, path: Path, unlogged: bool) -> float:
    kind = "unlogged" if unlogged else ""
    with psycopg.connect(url) as conn:
        conn.execute("drop table if exists bench_copy")
        conn.execute(f"create {kind} table bench_copy ({COLUMNS})")
        conn.commit()
        started = time.perf_counter()
        _copy_file(conn, "copy bench_copy from stdin with (format csv, header true)", path)
        conn.commit()
        return time.perf_counter() - started


def timed_ingest(name: str, landing: Path) -> tuple[float, int, int]:
    """The loader on a fresh database: (seconds, files settled, rows loaded)."""
    url = scratch_warehouse(name)
    started = time.perf_counter()
    loaded = ingest(url, landing)
    seconds = time.perf_counter() - started
    # header-only files (empty slots) share their bytes: the second is a duplicate, nothing lost
    assert loaded.count("loaded") + loaded.count("duplicate") == len(loaded.outcomes), loaded.summary()
    return seconds, len(loaded.outcomes), loaded.rows_loaded


def paired(repeat: int, bare: Callable[[], float], loader: Callable[[], float]) -> tuple[float, float, float]:
    """(best bare seconds, best loader seconds, median of the pairs' bare/loader ratios)."""
    pairs = [(bare(), loader()) for _ in range(repeat)]
    return (
        min(b for b, _ in pairs),
        min(lo for _, lo in pairs),
        statistics.median(b / lo for b, lo in pairs),
    )


# --- one big file -----------------------------------------------------------------------------


def big_file(rows: int, repeat: int) -> dict[str, Any]:
    url = scratch_warehouse("omni_bench")
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp) / "landing"
        folder = landing / "pos" / "inventory"
        folder.mkdir(parents=True)
        path = folder / "snapshot.csv"
        write_snapshot(path, rows, compress=False)
        logged = min(bare_copy(url, path, unlogged=False) for _ in range(repeat))

        def loader() -> float:
            seconds, _, loaded = timed_ingest("omni_bench_loader", landing)
            assert loaded == rows
            return seconds

        unlogged, loader_s, ratio = paired(repeat, lambda: bare_copy(url, path, unlogged=True), loader)
        return {
            "rows": rows,
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "bare_copy_unlogged_rows_per_s": round(rows / unlogged),
            "bare_copy_logged_rows_per_s": round(rows / logged),
            "loader_rows_per_s": round(rows / loader_s),
            "loader_vs_unlogged_copy": round(ratio, 3),
            "loader_vs_logged_copy": round(logged / loader_s, 3),
        }


# --- a simulated day of small files ------------------------------------------------------------


def _as_csv(item: LandingFile, columns: list[str]) -> bytes:
    """The file's rows as CSV with a header of the registry's columns it has (for bare COPY)."""
    if item.file_format == "parquet":
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        table = pq.read_table(item.path)
        buffer = io.BytesIO()
        pa_csv.write_csv(table.select([c for c in table.column_names if c in columns]), buffer)
        return buffer.getvalue()
    opener: Callable[..., Any] = gzip.open if item.compressed else open
    with opener(item.path, "rb") as handle:
        data = handle.read()
    if item.file_format == "csv":
        return data
    records = [json.loads(line) for line in data.decode("utf-8-sig").splitlines() if line.strip()]
    present = [c for c in columns if any(c in r for r in records)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(present)
    for record in records:
        writer.writerow(
            [
                "" if (v := record.get(c)) is None else str(v).lower() if isinstance(v, bool) else v
                for c in present
            ]
        )
    return out.getvalue().encode()


def simulated_day(stores: int, skus: int, repeat: int) -> dict[str, Any]:
    from orchestration.simulator.config import SimulationConfig
    from orchestration.simulator.run import simulate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        landing = root / "landing"
        simulate(
            SimulationConfig(
                stores=stores, dcs=2, skus=skus, days=1, seed=11,
                landing_dir=landing, truth_dir=root / "truth", quiet=True,
            )
        )  # fmt: skip
        items = [i for i in scan(landing) if i.feed is not None]
        url = scratch_warehouse("omni_bench_day")
        plain = root / "plain"
        plain.mkdir()
        copies: list[tuple[str, Path]] = []
        rows = 0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create schema bench")
            for feed in {i.feed.raw_table: i.feed for i in items if i.feed}.values():
                names = ", ".join(f'"{c.name}"' for c in feed.columns)
                conn.execute(
                    f"create unlogged table bench.{feed.raw_table} as select {names} from raw.{feed.raw_table} limit 0"
                )
            for number, item in enumerate(items):
                assert item.feed is not None
                data = _as_csv(item, [c.name for c in item.feed.columns])
                path = plain / f"{number}.csv"
                path.write_bytes(data)
                header = next(csv.reader([data.split(b"\n", 1)[0].decode()]))
                columns = ", ".join(f'"{name}"' for name in header)
                copies.append(
                    (
                        f"copy bench.{item.feed.raw_table} ({columns}) from stdin (format csv, header true)",
                        path,
                    )
                )

            def bare() -> float:
                for feed in {i.feed.raw_table for i in items if i.feed}:
                    conn.execute(f"truncate bench.{feed}")
                started = time.perf_counter()
                for statement, path in copies:  # autocommit: one transaction per file
                    _copy_file(conn, statement, path)
                return time.perf_counter() - started

            def loader() -> float:
                nonlocal rows
                seconds, files, rows = timed_ingest("omni_bench_day_loader", landing)
                assert files == len(items)
                return seconds

            bare_s, loader_s, ratio = paired(repeat, bare, loader)
            copied = sum(
                conn.execute(f"select count(*) from bench.{t}").fetchone()[0]
                for t in {i.feed.raw_table for i in items if i.feed}
            )
        assert copied == rows, (copied, rows)
        return {
            "day": f"{stores} stores, {skus} skus, 1 day",
            "day_files": len(items),
            "day_formats": {
                f: sum(i.file_format == f for i in items)
                for f in sorted({i.file_format or "" for i in items})
            },
            "day_rows": rows,
            "day_bare_copy_ms_per_file": round(bare_s / len(items) * 1000, 2),
            "day_loader_ms_per_file": round(loader_s / len(items) * 1000, 2),
            "day_bare_copy_rows_per_s": round(rows / bare_s),
            "day_loader_rows_per_s": round(rows / loader_s),
            "day_loader_vs_unlogged_copy": round(ratio, 3),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows of the big file")
    parser.add_argument("--stores", type=int, default=10, help="stores of the simulated day")
    parser.add_argument("--skus", type=int, default=500, help="skus of the simulated day")
    parser.add_argument("--repeat", type=int, default=3, help="bare/loader pairs per workload")
    parser.add_argument("--skip", default="", help="comma-separated workloads to skip: big, day")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/ingest.json"))
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    results: dict[str, Any] = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    if "big" not in skip:
        results.update(big_file(args.rows, args.repeat))
    if "day" not in skip:
        results.update(simulated_day(args.stores, args.skus, args.repeat))
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report(results, args.json)


if __name__ == "__main__":
    main()
