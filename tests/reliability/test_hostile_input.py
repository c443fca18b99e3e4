"""Probes 1-6 of hostile input (docs/contract.md section 5), each against the real loader and server.

Each probe is a file a careless or hostile sender could deliver. What must hold every time: the
ingest returns, the bad file is quarantined with a reason or refused (nothing of it in raw), the
good file beside it loads, and the next build does not fail because of it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.feeds import FEEDS_BY_ID
from orchestration.lib.loader import IngestReport, ingest
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from tests.feed_files import csv_text, feed_dir, sample_rows, write_rows

SALES = FEEDS_BY_ID["pos/sales"]
ITEMS = FEEDS_BY_ID["erp/items"]
COUNTS = FEEDS_BY_ID["pos/inventory"]


def rows_of(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def outcome(report: IngestReport, name: str):
    (found,) = [o for o in report.outcomes if o.relative.endswith(name)]
    return found


def raw_rows_of(url: str, table: str, file_name: str) -> int:
    return rows_of(
        url,
        f"select count(*) from raw.{table} r join meta.file_ledger l on l.load_id = r._load_id"
        " where l.file_path like %s",
        (f"%{file_name}",),
    )[0][0]


def with_good_file(landing: Path) -> None:
    write_rows(feed_dir(landing, SALES), "good.csv", sample_rows(SALES, 3))


def assert_quarantined(url: str, report: IngestReport, name: str, reason: str, table: str) -> None:
    bad = outcome(report, name)
    assert bad.status == "quarantined" and reason in bad.reason, bad.reason
    assert raw_rows_of(url, table, name) == 0
    assert outcome(report, "good.csv").status == "loaded"


@pytest.mark.parametrize("form", ["csv", "jsonl"])
def test_probe_1_an_empty_quantity_quarantines_the_file(db_url: str, landing: Path, form: str) -> None:
    with_good_file(landing)
    rows = sample_rows(SALES, 2, event_id="e_bad")
    rows[1]["qty"] = None
    directory = feed_dir(landing, SALES)
    if form == "csv":
        (directory / "empty_qty.csv").write_text(csv_text(rows).replace(",None,", ",,"))
    else:
        write_rows(directory, "empty_qty.jsonl", rows)
    report = ingest(db_url, landing)
    assert_quarantined(db_url, report, f"empty_qty.{form}", "qty", SALES.raw_table)


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "1e30", "-Infinity"])
def test_probe_1_a_unit_cost_beyond_any_figure_quarantines_the_item_master(
    db_url: str, landing: Path, cost: str
) -> None:
    with_good_file(landing)
    rows = sample_rows(ITEMS, 2)
    rows[0]["unit_cost"] = cost
    write_rows(feed_dir(landing, ITEMS), "items.csv", rows)
    report = ingest(db_url, landing)
    assert_quarantined(db_url, report, "items.csv", "unit_cost", ITEMS.raw_table)


def test_probe_2_a_file_name_that_is_not_utf8_stops_nothing(db_url: str, landing: Path) -> None:
    with_good_file(landing)
    directory = feed_dir(landing, SALES)
    name = os.fsencode(directory) + b"/v_\xe9.csv"
    with open(name, "wb") as handle:
        handle.write(csv_text(sample_rows(SALES, 2, event_id="e_latin1")).encode())
    report = ingest(db_url, landing)
    odd = outcome(report, "v_\\xe9.csv")  # shown with its undecodable byte escaped
    assert odd.status == "loaded" and outcome(report, "good.csv").status == "loaded"
    assert rows_of(
        db_url, "select count(*) from meta.file_ledger where file_path like %s", ("%v_\\\\xe9.csv",)
    ) == [(1,)]
    assert ingest(db_url, landing).count("loaded") == 0  # seen once, not again


def test_probe_3_a_symlink_is_never_followed_and_nothing_it_points_to_reaches_a_table(
    db_url: str, landing: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "passwd"
    secret.write_text("location_id,sku,qty\nroot:x:0:0:root:/root:/bin/bash\n")
    with_good_file(landing)
    link = feed_dir(landing, SALES) / "p.csv"
    link.symlink_to(secret)
    (feed_dir(landing, COUNTS) / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    report = ingest(db_url, landing)
    assert not [o for o in report.outcomes if o.relative.endswith("p.csv")]  # never opened
    assert {e.kind for e in report.unsupported} == {"symlink"}
    assert outcome(report, "good.csv").status == "loaded"
    build_inventory_exceptions(db_url)
    unsupported = rows_of(
        db_url,
        "select details ->> 'file_path', status from quality.inventory_exceptions"
        " where exception_type = 'UNSUPPORTED_FILE' order by 1",
    )
    assert unsupported == [("pos/inventory/elsewhere", "open"), ("pos/sales/p.csv", "open")]
    everything = rows_of(
        db_url,
        "select string_agg(t::text, '') from (select details::text from quality.inventory_exceptions"
        " union all select reason from meta.file_ledger union all select r::text from raw.pos__sales r) t",
    )[0][0]
    assert "root:x" not in everything
    link.unlink()  # gone: the warning resolves
    ingest(db_url, landing)
    build_inventory_exceptions(db_url)
    assert ("pos/sales/p.csv", "resolved") in rows_of(
        db_url,
        "select details ->> 'file_path', status from quality.inventory_exceptions"
        " where exception_type = 'UNSUPPORTED_FILE'",
    )


def test_probe_3_a_fifo_never_blocks_a_run(db_url: str, landing: Path) -> None:
    with_good_file(landing)
    os.mkfifo(feed_dir(landing, SALES) / "f.csv")
    done: list[IngestReport] = []
    worker = threading.Thread(target=lambda: done.append(ingest(db_url, landing)), daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done, "ingest blocked on a FIFO"
    assert [e.kind for e in done[0].unsupported] == ["fifo"]
    assert outcome(done[0], "good.csv").status == "loaded"


def test_probe_4_an_event_dated_far_ahead_quarantines_its_file_and_as_of_stays(
    db_url: str, landing: Path
) -> None:
    with_good_file(landing)
    ingest(db_url, landing)
    before = rows_of(db_url, "select max(max_data_ts) from meta.file_ledger where status = 'loaded'")[0][0]
    write_rows(feed_dir(landing, SALES), "future.csv", sample_rows(SALES, 1, event_ts="2999-01-01T00:00:00Z"))
    report = ingest(db_url, landing)
    future = outcome(report, "future.csv")
    assert future.status == "quarantined" and "future timestamp" in future.reason
    assert (
        rows_of(db_url, "select max(max_data_ts) from meta.file_ledger where status = 'loaded'")[0][0]
        == before
    )


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("event_ts", "11/01/2026 21:00", "ISO 8601"),
        ("qty", "0x1F", "plain decimal"),
        ("qty", "1_000", "plain decimal"),
    ],
)
def test_probe_6_values_postgres_would_read_its_own_way_are_quarantined_on_the_csv_path(
    db_url: str, landing: Path, column: str, value: str, rule: str
) -> None:
    with_good_file(landing)
    rows = sample_rows(SALES, 3, event_id="e_odd")
    rows[2][column] = value
    write_rows(feed_dir(landing, SALES), "odd.csv", rows)
    report = ingest(db_url, landing)
    assert_quarantined(db_url, report, "odd.csv", rule, SALES.raw_table)
    assert "line 4" in outcome(report, "odd.csv").reason and column in outcome(report, "odd.csv").reason


def test_probe_5_a_file_rewritten_in_place_loads_again_and_says_so(db_url: str, landing: Path) -> None:
    path = write_rows(feed_dir(landing, SALES), "rewritten.csv", sample_rows(SALES, 2))
    assert ingest(db_url, landing).count("loaded") == 1
    path.write_text(csv_text(sample_rows(SALES, 3, event_id="e_new")))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert ingest(db_url, landing).count("loaded") == 1
    build_inventory_exceptions(db_url)
    assert rows_of(
        db_url,
        "select details ->> 'file_path', status from quality.inventory_exceptions where exception_type = 'FILE_REWRITTEN'",
    ) == [("pos/sales/rewritten.csv", "open")]


@pytest.mark.parametrize("first", ["utc", "offset"])
def test_probe_5_two_snapshots_of_one_instant_count_the_same_whatever_arrives_first(
    db_url: str, landing: Path, make_dbt, first: str
) -> None:
    """`…T05:30:00+05:30` and `…T00:00:00Z` are one instant: the same file's row counts in both
    arrival orders (the greater sha256), and a blocking CONFLICTING_SNAPSHOT names both files."""
    files = {
        "utc": ("count_utc.csv", "2026-11-02T00:00:00Z", 2),
        "offset": ("count_ist.csv", "2026-11-02T05:30:00+05:30", 102),
    }
    order = [first, "offset" if first == "utc" else "utc"]
    dbt = make_dbt(db_url)
    for which in order:
        name, instant, on_hand = files[which]
        rows = [{"location_id": "S1", "sku": "A", "on_hand": on_hand, "damaged": 0, "snapshot_ts": instant}]
        write_rows(feed_dir(landing, COUNTS), name, rows)
        assert ingest(db_url, landing).count("loaded") == 1
        dbt("run", "--select", "stg_pos__inventory")  # the second run is incremental
    staged = rows_of(
        db_url, "select on_hand from staging.stg_pos__inventory where location_id = 'S1' and sku = 'A'"
    )
    hashes = dict(rows_of(db_url, "select file_path, file_hash from meta.file_ledger"))
    winner = max(files.values(), key=lambda f: hashes[f"pos/inventory/{f[0]}"])
    assert staged == [(winner[2],)]
    dbt("run", "--select", "stg_pos__inventory", "--full-refresh")
    assert (
        rows_of(db_url, "select on_hand from staging.stg_pos__inventory where location_id = 'S1'") == staged
    )
    build_inventory_exceptions(db_url)
    [(severity, details)] = rows_of(
        db_url,
        "select severity, details from quality.inventory_exceptions where exception_type = 'CONFLICTING_SNAPSHOT'",
    )
    assert severity == "blocking" and details["conflicting_keys"] == 1
    assert details["counts"]["file_path"] == f"pos/inventory/{winner[0]}"
    assert {f["file_path"] for f in details["files"]} == {f"pos/inventory/{f[0]}" for f in files.values()}


def test_a_bad_value_loaded_before_the_loader_refused_it_is_skipped_and_becomes_a_finding(
    db_url: str, landing: Path, make_dbt
) -> None:
    """Defence in depth: a row already in raw with an empty quantity (an older loader let it
    through) fails no model; staging skips it and INVALID_VALUE names it."""
    write_rows(feed_dir(landing, SALES), "legacy.csv", sample_rows(SALES, 2, location_id="S1", sku="A"))
    ingest(db_url, landing)
    with psycopg.connect(db_url) as conn:  # what a table of an older version holds
        conn.execute('alter table raw.pos__sales drop constraint "qty: missing value"')
        conn.execute("update raw.pos__sales set qty = null where _row_number = 1")
    dbt = make_dbt(db_url)
    dbt("build", "--select", "+quality_rule_findings", "--exclude-resource-type", "unit_test")
    assert rows_of(db_url, "select count(*) from staging.stg_pos__sales") == [(1,)]
    [(feed, details)] = rows_of(
        db_url,
        "select feed, details from quality.quality_rule_findings where exception_type = 'INVALID_VALUE'",
    )
    assert feed == "pos/sales" and details["row_number"] == 1 and details["raw_row"]["qty"] is None


def test_header_only_files_of_empty_slots_are_no_duplicate_deliveries(db_url: str, landing: Path) -> None:
    """The simulator (and many interfaces) write a header-only file for a slot without events;
    two of them have the same bytes, but nothing was delivered twice."""
    header = "event_id,location_id,sku,qty,event_ts\n"
    for name in ("empty_a.csv", "empty_b.csv"):
        (feed_dir(landing, SALES) / name).write_text(header)
    write_rows(feed_dir(landing, SALES), "twice_a.csv", sample_rows(SALES, 1, event_id="t1"))
    write_rows(feed_dir(landing, SALES), "twice_b.csv", sample_rows(SALES, 1, event_id="t1"))
    ingest(db_url, landing)
    build_inventory_exceptions(db_url)
    assert rows_of(
        db_url,
        "select details ->> 'file_path' from quality.inventory_exceptions where exception_type = 'DUPLICATE_FILE'",
    ) == [("pos/sales/twice_b.csv",)]
