"""Recall of injected faults: does every fault of the simulator's manifest show as an exception?

The simulator (orchestration/simulator) writes `fault_manifest.jsonl` beside its ground truth:
one object per injected fault (kind, file, location_id, sku, details). `FAULT_EXCEPTIONS` maps
each fault kind to the exception type that must report it and to how the exception is found
(the columns and evidence that identify it); `fault_recall` checks each manifest entry against
quality.inventory_exceptions. Used by tests/quality/test_simulated_recall.py and
benchmarks/quality.py; docs/quality.md shows the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

MANIFEST_FILE = "fault_manifest.jsonl"

Exception_ = dict[str, Any]
Fault = dict[str, Any]


def _file(exception: Exception_, fault: Fault) -> bool:
    return exception["details"].get("file_path") == fault["file"]


def _event(exception: Exception_, fault: Fault) -> bool:
    details = fault["details"]
    return (
        exception["feed"] == details["feed"] and exception["details"].get("event_id") == details["event_id"]
    )


def _at(exception: Exception_, fault: Fault) -> bool:
    return exception["location_id"] == fault["location_id"] and exception["sku"] == fault["sku"]


def _detail(key: str) -> Callable[[Exception_, Fault], bool]:
    return lambda exception, fault: (
        _at(exception, fault) and (exception["details"].get(key) == fault["details"][key])
    )


def _stale(exception: Exception_, fault: Fault) -> bool:
    return exception["feed"] == "pos/inventory" and exception["location_id"] == fault["location_id"]


def _out_of_order(exception: Exception_, fault: Fault) -> bool:
    snapshot_ts = str(exception["details"].get("snapshot_ts", "")).replace("+00:00", "Z")
    return exception["location_id"] == fault["location_id"] and snapshot_ts.startswith(
        fault["details"]["snapshot_ts"].rstrip("Z")
    )


def _unknown(column: str) -> Callable[[Exception_, Fault], bool]:
    return lambda exception, fault: (
        exception["feed"] == fault["details"]["feed"] and exception[column] == fault[column]
    )


def _listing(exception: Exception_, fault: Fault) -> bool:
    return (
        exception["feed"] == "channel/listings"
        and exception["sku"] == fault["sku"]
        and exception["details"].get("channel_id") == fault["details"]["channel_id"]
    )


@dataclass(frozen=True)
class Detection:
    exception_type: str
    matched_by: str  # what identifies the exception, for the documentation table
    matches: Callable[[Exception_, Fault], bool]


# Every simulator fault kind (orchestration/simulator/config.py FAULT_KINDS) and its exception.
FAULT_EXCEPTIONS: dict[str, Detection] = {
    "late_feed": Detection("LATE_EVENTS", "the file that delivered the late events", _file),
    "stale_feed": Detection("STALE_FEED", "feed pos/inventory, location_id", _stale),
    "duplicate_file": Detection("DUPLICATE_FILE", "the re-sent file", _file),
    "duplicate_event_id": Detection("DUPLICATE_EVENT", "feed, event_id", _event),
    "out_of_order_snapshot": Detection("OUT_OF_ORDER_SNAPSHOT", "location_id, snapshot_ts", _out_of_order),
    "malformed_missing_column": Detection("MALFORMED_FILE", "the broken file", _file),
    "malformed_bad_number": Detection("MALFORMED_FILE", "the broken file", _file),
    "malformed_truncated_gzip": Detection("MALFORMED_FILE", "the broken file", _file),
    "malformed_wrong_encoding": Detection("MALFORMED_FILE", "the broken file", _file),
    "unknown_sku": Detection("UNKNOWN_SKU", "feed, sku", _unknown("sku")),
    "unknown_location": Detection("UNKNOWN_LOCATION", "feed, location_id", _unknown("location_id")),
    "count_variance": Detection("COUNT_VARIANCE", "location_id, sku", _at),
    "negative_on_hand": Detection("NEGATIVE_ON_HAND", "location_id, sku", _at),
    "reservation_never_released": Detection(
        "RESERVATION_NOT_RELEASED", "location_id, sku, reservation_id", _detail("reservation_id")
    ),
    "transfer_overdue": Detection(
        "TRANSFER_OVERDUE", "location_id, sku, transfer_id", _detail("transfer_id")
    ),
    "listing_above_ats": Detection("OVERSOLD", "feed channel/listings, sku, channel_id", _listing),
}


@dataclass
class RecallReport:
    injected: int = 0
    found: int = 0
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)  # kind -> (found, injected)
    missed: list[Fault] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.injected if self.injected else 1.0


def read_manifest(truth_dir: Path) -> list[Fault]:
    path = truth_dir / MANIFEST_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_exceptions(url: str) -> list[Exception_]:
    """Every exception, open or resolved: a finding that was reported counts."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select exception_type, feed, location_id, sku, details, status, severity"
            " from quality.inventory_exceptions"
        ).fetchall()
    names = ("exception_type", "feed", "location_id", "sku", "details", "status", "severity")
    return [dict(zip(names, row, strict=True)) for row in rows]


def fault_recall(url: str, faults: list[Fault]) -> RecallReport:
    """Match each fault with an exception of its kind's type; unknown kinds count as missed."""
    by_type: dict[str, list[Exception_]] = {}
    for exception in read_exceptions(url):
        by_type.setdefault(exception["exception_type"], []).append(exception)
    report = RecallReport(injected=len(faults))
    counts: dict[str, list[int]] = {}
    for fault in faults:
        detection = FAULT_EXCEPTIONS.get(fault["kind"])
        found = detection is not None and any(
            detection.matches(exception, fault) for exception in by_type.get(detection.exception_type, [])
        )
        tally = counts.setdefault(fault["kind"], [0, 0])
        tally[1] += 1
        if found:
            tally[0] += 1
            report.found += 1
        else:
            report.missed.append(fault)
    report.by_kind = {kind: (found, injected) for kind, (found, injected) in sorted(counts.items())}
    return report
