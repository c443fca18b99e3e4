"""The landing-zone sensor evaluated with Dagster's testing API against a real landing zone and ledger."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.defs.ingestion.sensors import LANDING_SENSOR, SETTLE_MARGIN_NS, ArrivalCursor
from orchestration.lib.feeds import get_feed
from orchestration.lib.landing import LandingFile
from orchestration.lib.loader import ingest
from tests.feed_files import feed_dir, sample_rows, write_rows

EXCEPTIONS = "quality/inventory_exceptions"  # downstream of every feed and of the unrouted files


@pytest.fixture
def environment(db_url: str, landing: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    monkeypatch.setenv("OMNI_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNI_LANDING_DIR", str(landing))
    monkeypatch.delenv("OMNI_RESOLVED_DATABASE_URL", raising=False)
    return db_url, landing


def evaluate(cursor: str | None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            definitions=defs,
            resources={"warehouse": defs.resources["warehouse"]},
        )
        return sensor(context)


def requested_keys(result: dg.SensorResult) -> set[str]:
    return {key.to_user_string() for request in result.run_requests for key in request.asset_selection}


def test_one_run_for_the_new_files_of_every_source_and_the_cursor_advances(environment) -> None:
    _, landing = environment
    sales, inventory, listings = (
        get_feed("pos", "sales"),
        get_feed("pos", "inventory"),
        get_feed("channel", "listings"),
    )
    write_rows(feed_dir(landing, sales), "s1.csv", sample_rows(sales, 2))
    write_rows(feed_dir(landing, inventory), "i1.csv", sample_rows(inventory, 2))
    write_rows(feed_dir(landing, listings, "mkt_a"), "l1.csv", sample_rows(listings, 2, channel_id="mkt_a"))

    first = evaluate(None)

    # One run for both sources: the feeds that received files and what depends on them.
    assert len(first.run_requests) == 1
    keys = requested_keys(first)
    assert {"raw/pos__sales", "raw/pos__inventory", "raw/channel__listings", EXCEPTIONS} <= keys
    assert not {"raw/wms__inventory", "raw/unrouted_files"} & keys
    assert first.run_requests[0].tags == {
        "omni/sources": "channel,pos",
        "omni/feeds": "channel/listings,pos/inventory,pos/sales",
        "omni/files": "3",
    }
    cursor = ArrivalCursor.parse(first.cursor)
    assert cursor.settled_ns > 0
    assert {path for path, _ in cursor.recent} == {
        "pos/sales/s1.csv",
        "pos/inventory/i1.csv",
        "channel/mkt_a/listings/l1.csv",
    }

    # Nothing new: no run, same cursor.
    idle = evaluate(first.cursor)
    assert not idle.run_requests
    assert ArrivalCursor.parse(idle.cursor or first.cursor) == cursor

    # One new sales file: a run for the sales feed only (and what depends on it), under a new key.
    os.utime(landing, None)
    write_rows(feed_dir(landing, sales), "s2.csv", sample_rows(sales, 3, event_ts="2026-11-02T00:00:00Z"))
    second = evaluate(first.cursor)
    assert len(second.run_requests) == 1
    keys = requested_keys(second)
    assert "raw/pos__sales" in keys and not {"raw/pos__inventory", "raw/channel__listings"} & keys
    assert second.run_requests[0].tags["omni/files"] == "1"
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert ArrivalCursor.parse(second.cursor).settled_ns >= cursor.settled_ns


def test_files_already_loaded_start_no_run(environment) -> None:
    db_url, landing = environment
    sales = get_feed("pos", "sales")
    write_rows(feed_dir(landing, sales), "s1.csv", sample_rows(sales, 2))
    ingest(db_url, landing)  # e.g. `omni-inventory run` got there first

    result = evaluate(None)
    assert not result.run_requests
    assert [path for path, _ in ArrivalCursor.parse(result.cursor).recent] == ["pos/sales/s1.csv"]


def test_files_of_no_feed_start_a_run_of_the_unrouted_files_asset(environment) -> None:
    _, landing = environment
    (landing / "pos" / "nonsense").mkdir(parents=True)
    (landing / "pos" / "nonsense" / "x.csv").write_text("a,b\n1,2\n")
    (landing / "stray.csv").write_text("a\n1\n")

    result = evaluate(None)

    assert len(result.run_requests) == 1
    keys = requested_keys(result)
    assert {"raw/unrouted_files", EXCEPTIONS} <= keys
    assert not any(key.startswith("raw/") and key != "raw/unrouted_files" for key in keys)
    assert result.run_requests[0].tags == {
        "omni/sources": "pos,unrouted",
        "omni/feeds": "unrouted",
        "omni/files": "2",
    }


def test_a_file_that_lands_in_an_already_scanned_folder_during_a_scan_is_not_passed_over() -> None:
    """A scan started at T found b (changed at T + 2 s) but not a, which landed at T + 1 s in a folder
    the scan had already passed. The next tick must still take a; b and older files are done."""
    second = 10**9
    start = 1_000 * second
    cursor = ArrivalCursor().advanced([_file("z/b.csv", start + 2 * second)], start)
    assert cursor.is_new(_file("a/a.csv", start + second))
    assert not cursor.is_new(_file("z/b.csv", start + 2 * second))
    assert cursor.is_new(_file("z/b.csv", start + 3 * second))  # redelivered: changed again
    assert not cursor.is_new(_file("old.csv", start - SETTLE_MARGIN_NS))
    # a later scan settles further and forgets what it no longer needs to remember
    later = cursor.advanced([_file("a/a.csv", start + second)], start + 60 * second)
    assert later.settled_ns == start + 60 * second - SETTLE_MARGIN_NS and later.recent == ()
    assert not later.is_new(_file("a/a.csv", start + second))
    assert ArrivalCursor.parse(cursor.serialize()) == cursor


def test_the_cursor_of_earlier_versions_is_read() -> None:
    earlier = ArrivalCursor.parse('{"ctime_ns": 100, "paths_at_ctime": ["a/b/1.csv"]}')
    assert not earlier.is_new(_file("a/b/1.csv", 100)) and earlier.is_new(_file("a/b/3.csv", 100))
    assert earlier.is_new(_file("a/b/1.csv", 101)) and not earlier.is_new(_file("a/b/9.csv", 99))


def _file(relative: str, ctime_ns: int) -> LandingFile:
    return LandingFile(Path(relative), relative, 1, 1, ctime_ns, None, None, None, None, False, None)


def evaluate_schedule(name: str) -> list[dg.RunRequest] | dg.SkipReason:
    schedule = defs.resolve_schedule_def(name)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, resources={"warehouse": defs.resources["warehouse"]}
        )
        result = schedule.evaluate_tick(context)
    return result.run_requests or result.skip_message


def test_schedules_run_only_when_files_of_theirs_are_pending(environment) -> None:
    db_url, landing = environment
    assert "nothing pending" in evaluate_schedule("erp_master_hourly")
    assert "nothing pending" in evaluate_schedule("landing_sweep_every_30_minutes")
    sales, items = get_feed("pos", "sales"), get_feed("erp", "items")
    write_rows(feed_dir(landing, sales), "s1.csv", sample_rows(sales, 2))
    # a till file is the sweep's business, not the ERP refresh's
    assert "nothing pending" in evaluate_schedule("erp_master_hourly")
    assert len(evaluate_schedule("landing_sweep_every_30_minutes")) == 1
    write_rows(feed_dir(landing, items), "i1.csv", sample_rows(items, 2))
    [request] = evaluate_schedule("erp_master_hourly")
    assert request.tags["omni/files"] == "1"
    ingest(db_url, landing)
    assert "nothing pending" in evaluate_schedule("erp_master_hourly")
    assert "nothing pending" in evaluate_schedule("landing_sweep_every_30_minutes")
