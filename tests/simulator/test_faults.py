"""Each fault kind is in the manifest and in the files, and is the only reason truth and files differ."""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from orchestration.simulator import FAULT_KINDS, TRUTH_AFFECTING
from orchestration.simulator.truth import QUANTITY_COLUMNS
from tests.simulator.contract import Landing, channel_ats, inventory_position, read_truth
from tests.simulator.landing_reader import landing_files, read_file
from tests.support.simulations import Run, run_simulation

MALFORMED = {k for k in FAULT_KINDS if k.startswith("malformed_")}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _by_kind(run: Run) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for fault in run.manifest:
        out[fault["kind"]].append(fault)
    return out


def _clean_landing(run: Run) -> Landing:
    return Landing.load(run.landing, exclude={m["file"] for m in run.manifest if m["kind"] in MALFORMED})


def test_manifest_lists_every_kind_with_landing_paths(fault_run: Run) -> None:
    faults = _by_kind(fault_run)
    assert set(faults) == set(FAULT_KINDS)
    files = set(landing_files(fault_run.landing))
    for fault in fault_run.manifest:
        assert set(fault) == {"kind", "file", "location_id", "sku", "affects_truth", "details"}
        assert fault["file"] in files, fault
        assert fault["affects_truth"] == (fault["kind"] in TRUTH_AFFECTING)


def test_only_the_faults_that_say_so_make_files_and_truth_differ(fault_run: Run) -> None:
    landing = _clean_landing(fault_run)
    position = inventory_position(landing)
    truth = read_truth(fault_run.truth_file)
    affected = {(m["location_id"], m["sku"]) for m in fault_run.manifest if m["affects_truth"]}
    stale_stores = {m["location_id"] for m in fault_run.manifest if m["kind"] == "stale_feed"}
    differing = {key for key in truth if any(position[key][q] != truth[key][q] for q in QUANTITY_COLUMNS)}
    unexplained = {key for key in differing if key not in affected and key[0] not in stale_stores}
    assert unexplained == set()
    assert differing  # and the faults that affect the truth do
    extra_rows = set(position) - set(truth)
    assert extra_rows <= affected


def test_file_level_faults_are_in_the_files(fault_run: Run) -> None:
    faults = _by_kind(fault_run)
    root = fault_run.landing
    for fault in faults["duplicate_file"]:
        assert (root / fault["file"]).read_bytes() == (root / fault["details"]["same_bytes_as"]).read_bytes()
    for fault in faults["duplicate_event_id"]:
        event_id = fault["details"]["event_id"]
        for relative in (fault["file"], fault["details"]["first_delivered_in"]):
            assert any(r["event_id"] == event_id for r in read_file(root, relative).rows)
        assert fault["file"] != fault["details"]["first_delivered_in"]
    for fault in faults["late_feed"]:
        rows = read_file(root, fault["file"]).rows
        early = [
            r
            for r in rows
            if _when(fault["details"]["events_from"]) <= r["event_ts"] < _when(fault["details"]["events_to"])
        ]
        assert len(early) >= fault["details"]["rows"]
        assert fault["details"]["delay_minutes"] > 0
    for kind, column, master in (
        ("unknown_sku", "sku", "erp/items"),
        ("unknown_location", "location_id", "erp/locations"),
    ):
        known = {r[column] for r in _clean_landing(fault_run).rows(master)}
        for fault in faults[kind]:
            row = next(
                r
                for r in read_file(root, fault["file"]).rows
                if r["event_id"] == fault["details"]["event_id"]
            )
            assert row[column] == fault[column] and row[column] not in known


def test_snapshot_faults_are_in_the_files(fault_run: Run) -> None:
    faults = _by_kind(fault_run)
    root = fault_run.landing
    landing = _clean_landing(fault_run)
    counts = landing.rows("pos/inventory")
    for fault in faults["stale_feed"]:
        store, stopped = fault["location_id"], _when(fault["details"]["stopped_at"])
        assert max(r["snapshot_ts"] for r in counts if r["location_id"] == store) < stopped
        assert not [
            s for s in landing.rows("pos/sales") if s["location_id"] == store and s["event_ts"] >= stopped
        ]
    newest_mtime = max(os.stat(root / f).st_mtime_ns for f in landing_files(root))
    for fault in faults["out_of_order_snapshot"]:
        rows = read_file(root, fault["file"]).rows
        feed = "wms/inventory" if fault["file"].startswith("wms/") else "pos/inventory"
        newest = max(r["snapshot_ts"] for r in landing.rows(feed) if r["location_id"] == fault["location_id"])
        assert rows[0]["snapshot_ts"] < newest
        assert os.stat(root / fault["file"]).st_mtime_ns == newest_mtime  # delivered last
    position = inventory_position(landing)
    truth = read_truth(fault_run.truth_file)
    for fault in faults["negative_on_hand"]:
        key = (fault["location_id"], fault["sku"])
        assert position[key]["on_hand"] < 0 <= truth[key]["on_hand"]
    books = {
        (r["location_id"], r["sku"]): r["book_qty"]
        for r in read_file(root, faults["count_variance"][0]["file"]).rows
    }
    for fault in faults["count_variance"]:
        key = (fault["location_id"], fault["sku"])
        assert books[key] - truth[key]["on_hand"] == fault["details"]["book_minus_physical"] > 0
        assert position[key]["on_hand"] == truth[key]["on_hand"]  # the count shows the shrink


def test_oms_and_channel_faults_are_in_the_files(fault_run: Run) -> None:
    faults = _by_kind(fault_run)
    landing = _clean_landing(fault_run)
    as_of = landing.as_of
    for fault in faults["reservation_never_released"]:
        events = [
            r
            for r in landing.rows("oms/reservations")
            if r["reservation_id"] == fault["details"]["reservation_id"]
        ]
        assert [e["event_type"] for e in events] == ["created"] and events[0]["expires_at"] > as_of
        assert any(
            r["event_id"] == events[0]["event_id"] for r in read_file(fault_run.landing, fault["file"]).rows
        )
        cancelled = [
            o
            for o in landing.rows("channel/orders")
            if o["order_id"] == fault["details"]["order_id"] and o["status"] == "cancelled"
        ]
        assert cancelled  # the order is gone, its reservation still holds stock
    for fault in faults["transfer_overdue"]:
        line = next(
            r
            for r in read_file(fault_run.landing, fault["file"]).rows
            if r["transfer_id"] == fault["details"]["transfer_id"] and r["sku"] == fault["sku"]
        )
        assert line["status"] == "shipped" and line["expected_at"] < as_of and line["received_qty"] == 0
    ats = channel_ats(landing, read_truth(fault_run.truth_file))
    inflated = set()
    for fault in faults["listing_above_ats"]:
        key = (fault["details"]["channel_id"], fault["sku"])
        row = next(r for r in read_file(fault_run.landing, fault["file"]).rows if r["sku"] == fault["sku"])
        assert row["published_qty"] == fault["details"]["published_qty"] > fault["details"]["ats"] == ats[key]
        inflated.add(key)
    newest = landing.newest_per_scope("channel/listings", "channel_id")
    published = {(r["channel_id"], r["sku"]): r["published_qty"] for rows in newest.values() for r in rows}
    assert {k for k, v in published.items() if v != ats[k]} == inflated


def test_selected_kinds_only(tmp_path: Path) -> None:
    run = run_simulation(tmp_path, stores=6, skus=80, fault_kinds=("stale_feed", "malformed_file"))
    kinds = {m["kind"] for m in run.manifest}
    assert kinds == {"stale_feed"} | MALFORMED
