"""Every file the simulator writes parses against the feed registry (CONTRACT section 2)."""

from __future__ import annotations

import re

import pytest

from orchestration.lib.feeds import FEEDS
from tests.simulator.landing_reader import MalformedFile, feed_of, landing_files, read_file
from tests.support.simulations import Run

FILE_NAME = re.compile(r"^[a-z0-9_]+(_[A-Z0-9]+)?_\d{8}T\d{4}Z(_[a-z0-9]+)?\.(csv|csv\.gz|jsonl|parquet)$")
# Fault kind -> how the reader (like the loader) rejects the broken file.
REJECTION = {
    "malformed_missing_column": "missing required columns",
    "malformed_bad_number": "unparseable integer value '3,5'",
    "malformed_truncated_gzip": "broken gzip",
    "malformed_wrong_encoding": "not UTF-8",
}


@pytest.mark.parametrize("run_name", ["clean_run", "daily_run"])
def test_every_file_parses_against_the_registry(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    files = landing_files(run.landing)
    assert len(files) == run.summary.files_written
    feeds_seen = set()
    rows = 0
    for relative in files:
        item = read_file(run.landing, relative)  # raises MalformedFile on any deviation
        # empty only as the header-only file of an event feed's day without events (at midnight)
        assert item.rows or (item.feed.kind == "event" and "T0000Z" in relative), f"{relative} is empty"
        feeds_seen.add(item.feed.feed_id)
        rows += len(item.rows)
    assert feeds_seen == {feed.feed_id for feed in FEEDS}
    assert rows == run.summary.rows_written


def test_layout_names_and_formats(clean_run: Run) -> None:
    files = landing_files(clean_run.landing)
    suffixes = {name.split(".", 1)[1] for name in files}
    assert {"csv", "csv.gz", "jsonl", "parquet"} <= suffixes
    for relative in files:
        feed, channel_id = feed_of(relative)
        name = relative.rsplit("/", 1)[1]
        assert FILE_NAME.match(name), name
        if feed.source == "channel":
            assert channel_id in clean_run.config.channels
    # Writers rename into place: no temporary left behind (.simulator/ holds the period record).
    leftovers = [p for p in clean_run.landing.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp")]
    assert leftovers == [clean_run.landing / ".simulator"]
    assert [p.name for p in leftovers[0].iterdir()] == ["run_20261101T0000Z_20261103T0000Z.json"]
    assert not clean_run.config.truth_dir.is_relative_to(clean_run.landing)


def test_formats_by_feed(clean_run: Run) -> None:
    by_feed: dict[str, set[str]] = {}
    for relative in landing_files(clean_run.landing):
        feed, _ = feed_of(relative)
        by_feed.setdefault(feed.feed_id, set()).add(relative.rsplit("/", 1)[1].split(".", 1)[1])
    assert by_feed["pos/inventory"] == {"csv.gz"}
    assert by_feed["pos/sales"] == {"csv.gz"}
    assert by_feed["erp/book_inventory"] == {"parquet"}
    assert by_feed["oms/reservations"] == by_feed["channel/orders"] == {"jsonl"}


def test_broken_files_fail_the_way_the_manifest_says(fault_run: Run) -> None:
    broken = [m for m in fault_run.manifest if m["kind"] in REJECTION]
    assert {m["kind"] for m in broken} == set(REJECTION)
    for fault in broken:
        with pytest.raises(MalformedFile, match=re.escape(REJECTION[fault["kind"]])):
            read_file(fault_run.landing, fault["file"])
        # The source re-sent the file correctly.
        assert read_file(fault_run.landing, fault["details"]["corrected_file"]).rows


def test_every_other_file_of_a_fault_run_parses(fault_run: Run) -> None:
    broken = {m["file"] for m in fault_run.manifest if m["kind"] in REJECTION}
    parsed = [read_file(fault_run.landing, r) for r in landing_files(fault_run.landing) if r not in broken]
    assert parsed and all(f.relative.startswith(f"{f.feed.source}/") for f in parsed)
    # every file lands where its feed's folder says, and the run as a whole carries data
    assert all(f"/{f.feed.name}/" in f"/{f.relative}" for f in parsed)
    assert sum(len(f.rows) for f in parsed) > len(parsed)
