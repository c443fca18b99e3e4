"""A tiny, consistent retailer for the quality tests: every feed, one file each, no fault.

Three skus (sku_0..sku_2) and three locations (location_id_0..location_id_2) in the masters;
every other feed names only those, at one data time T, so every suite passes. Tests then add
one fault at a time as an extra file and check that exactly that fault is reported.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration.lib.feeds import FEEDS, Feed, get_feed
from tests.feed_files import feed_dir, sample_rows, write_rows

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SKUS = ("sku_0", "sku_1", "sku_2")
LOCATIONS = ("location_id_0", "location_id_1", "location_id_2")
CHANNEL = "web"


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def feed(feed_id: str) -> Feed:
    source, name = feed_id.split("/")
    found = get_feed(source, name)
    assert found is not None
    return found


def clean_rows(target: Feed, at: datetime = T, count: int = 3, **fixed: Any) -> list[dict[str, Any]]:
    """Valid rows of a feed: masters' ids only, one timestamp, positive quantities, allowed values."""
    rows = sample_rows(target, count)
    for i, row in enumerate(rows):
        for name in ("location_id", "from_location_id", "to_location_id"):
            if name in row:
                row[name] = LOCATIONS[(i + (name == "to_location_id")) % len(LOCATIONS)]
        if "sku" in row:
            row["sku"] = SKUS[i % len(SKUS)]
        if "channel_id" in row:
            row["channel_id"] = CHANNEL
        if "fulfillment_location_types" in row:
            row["fulfillment_location_types"] = "store;dc"
        if "event_id" in row:
            row["event_id"] = f"{target.raw_table}-{iso(at)}-{i}"
        row[target.time_column] = iso(at)
        row.update(fixed)
    return rows


def write_feed(landing: Path, target: Feed, name: str, rows: list[dict[str, Any]]) -> Path:
    return write_rows(feed_dir(landing, target, CHANNEL), name, rows)


def write_clean_world(landing: Path, at: datetime = T) -> None:
    for target in FEEDS:
        write_feed(landing, target, f"clean_{iso(at).replace(':', '')}.csv", clean_rows(target, at))


def later(minutes: int) -> datetime:
    return T + timedelta(minutes=minutes)
