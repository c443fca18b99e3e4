"""File-arrival sensors evaluated with Dagster's testing API against a real landing zone and ledger."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.defs.ingestion.sensors import ArrivalCursor
from orchestration.lib.feeds import get_feed
from orchestration.lib.loader import ingest
from tests.feed_files import feed_dir, sample_rows, write_rows


@pytest.fixture
def environment(db_url: str, landing: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    monkeypatch.setenv("OMNI_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNI_LANDING_DIR", str(landing))
    monkeypatch.delenv("OMNI_RESOLVED_DATABASE_URL", raising=False)
    return db_url, landing


def evaluate(name: str, cursor: str | None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(name)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=cursor, definitions=defs, resources={"warehouse": defs.resources["warehouse"]}
        )
        return sensor(context)


def requested_keys(result: dg.SensorResult) -> set[str]:
    return {key.to_user_string() for request in result.run_requests for key in request.asset_selection}


def test_sensor_requests_one_run_for_new_files_and_advances_its_cursor(environment) -> None:
    _, landing = environment
    sales, inventory = get_feed("pos", "sales"), get_feed("pos", "inventory")
    write_rows(feed_dir(landing, sales), "s1.csv", sample_rows(sales, 2))
    write_rows(feed_dir(landing, inventory), "i1.csv", sample_rows(inventory, 2))

    first = evaluate("pos_file_arrival", None)

    assert len(first.run_requests) == 1
    assert {"raw/pos__sales", "raw/pos__inventory"} <= requested_keys(first)
    assert first.run_requests[0].tags["omni/files"] == "2"
    cursor = ArrivalCursor.parse(first.cursor)
    assert set(cursor.paths_at_ctime) <= {"pos/sales/s1.csv", "pos/inventory/i1.csv"} and cursor.ctime_ns > 0

    # Nothing new: no run, same cursor.
    idle = evaluate("pos_file_arrival", first.cursor)
    assert idle.run_requests == [] or idle.run_requests is None
    assert ArrivalCursor.parse(idle.cursor or first.cursor) == cursor

    # One new sales file: a run for the sales feed only (and what depends on it).
    os.utime(landing, None)
    write_rows(feed_dir(landing, sales), "s2.csv", sample_rows(sales, 3, event_ts="2026-11-02T00:00:00Z"))
    second = evaluate("pos_file_arrival", first.cursor)
    assert len(second.run_requests) == 1
    keys = requested_keys(second)
    assert "raw/pos__sales" in keys and "raw/pos__inventory" not in keys
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert ArrivalCursor.parse(second.cursor).ctime_ns >= cursor.ctime_ns


def test_sensor_skips_files_already_loaded_and_ignores_other_sources(environment) -> None:
    db_url, landing = environment
    sales = get_feed("pos", "sales")
    write_rows(feed_dir(landing, sales), "s1.csv", sample_rows(sales, 2))
    ingest(db_url, landing)  # e.g. `omni-inventory run` got there first

    result = evaluate("pos_file_arrival", None)
    assert not result.run_requests
    assert ArrivalCursor.parse(result.cursor).paths_at_ctime == ("pos/sales/s1.csv",)

    assert not evaluate("wms_file_arrival", None).run_requests


def test_cursor_keeps_files_that_share_an_inode_change_time() -> None:
    cursor = ArrivalCursor(100, ("a/b/1.csv",))
    assert cursor.advanced([]) == cursor
    merged = cursor.advanced([_file("a/b/2.csv", 100)])
    assert merged == ArrivalCursor(100, ("a/b/1.csv", "a/b/2.csv"))
    assert not merged.is_new(_file("a/b/1.csv", 100)) and merged.is_new(_file("a/b/3.csv", 100))
    assert merged.is_new(_file("a/b/1.csv", 101)) and not merged.is_new(_file("a/b/9.csv", 99))
    assert ArrivalCursor.parse(merged.serialize()) == merged


def _file(relative: str, ctime_ns: int):
    from orchestration.lib.landing import LandingFile

    return LandingFile(Path(relative), relative, 1, 1, ctime_ns, None, None, None, None, False, None)
