"""CONTRACT section 3 computed from the landing files alone (a reference pipeline for the tests).

Loads every readable file once per content hash (skipping files the caller excludes), keeps one
row per event_id, and derives inventory_position's quantities with the contract's formulas.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestration.simulator.truth import QUANTITY_COLUMNS
from tests.simulator.landing_reader import FeedFile, landing_files, read_file

Key = tuple[str, str]


@dataclass
class Landing:
    files: list[FeedFile]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path, exclude: set[str] = frozenset()) -> Landing:
        seen_digests: set[str] = set()
        files = []
        for relative in landing_files(root):
            if relative in exclude:
                continue
            item = read_file(root, relative)
            if item.digest in seen_digests:
                continue
            seen_digests.add(item.digest)
            files.append(item)
        landing = cls(files)
        seen_ids: dict[str, set[str]] = defaultdict(set)
        for item in files:
            feed_id = item.feed.feed_id
            target = landing.events if item.feed.kind == "event" else landing.snapshots
            rows = target.setdefault(feed_id, [])
            for row in item.rows:
                if item.feed.kind == "event":
                    if row["event_id"] in seen_ids[feed_id]:
                        continue
                    seen_ids[feed_id].add(row["event_id"])
                rows.append(row)
        return landing

    def rows(self, feed_id: str) -> list[dict[str, Any]]:
        return self.events.get(feed_id) or self.snapshots.get(feed_id) or []

    @property
    def as_of(self) -> datetime:
        times = [row["snapshot_ts"] for rows in self.snapshots.values() for row in rows]
        times += [row["event_ts"] for rows in self.events.values() for row in rows]
        return max(times)

    def newest_per_scope(self, feed_id: str, scope: str | None) -> dict[str, list[dict[str, Any]]]:
        """Rows of the newest snapshot of each scope value (or of the whole feed: key '')."""
        newest: dict[str, datetime] = {}
        for row in self.rows(feed_id):
            key = row[scope] if scope else ""
            if key not in newest or row["snapshot_ts"] > newest[key]:
                newest[key] = row["snapshot_ts"]
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows(feed_id):
            key = row[scope] if scope else ""
            if row["snapshot_ts"] == newest[key]:
                out[key].append(row)
        return out


def latest_by(rows: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Row with the greatest event_ts per key (the contract's 'latest')."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        if k not in out or row["event_ts"] > out[k]["event_ts"]:
            out[k] = row
    return out


def inventory_position(landing: Landing) -> dict[Key, dict[str, int]]:
    as_of = landing.as_of
    position: dict[Key, dict[str, int]] = defaultdict(lambda: dict.fromkeys(QUANTITY_COLUMNS, 0))

    returned: dict[Key, int] = defaultdict(int)
    for row in latest_by(landing.rows("oms/returns"), ("return_id",)).values():
        if row["status"] == "received":
            returned[(row["location_id"], row["sku"])] += row["qty"]

    counts = landing.newest_per_scope("pos/inventory", "location_id")
    for location, rows in counts.items():
        for row in rows:
            p = position[(location, row["sku"])]
            p["on_hand"] += row["on_hand"]
            p["damaged"] += row["damaged"]
    for sale in landing.rows("pos/sales"):
        rows = counts.get(sale["location_id"])
        if rows and sale["event_ts"] > rows[0]["snapshot_ts"]:
            position[(sale["location_id"], sale["sku"])]["on_hand"] -= sale["qty"]
    for (location, sku), qty in returned.items():
        if location in counts:
            position[(location, sku)]["on_hand"] += qty
            position[(location, sku)]["returned"] += qty

    buckets = {
        "damaged": "damaged",
        "quarantine": "quarantined",
        "on_hold": "quarantined",
        "returned": "returned",
    }
    wms_counts = landing.newest_per_scope("wms/inventory", "location_id")
    later = [
        m
        for m in landing.rows("wms/movements")
        if m["location_id"] in wms_counts and m["event_ts"] > wms_counts[m["location_id"]][0]["snapshot_ts"]
    ]
    for row in [r for rows in wms_counts.values() for r in rows] + later:
        p = position[(row["location_id"], row["sku"])]
        p["on_hand"] += row["qty"]
        if row["status"] in buckets:
            p[buckets[row["status"]]] += row["qty"]

    for row in latest_by(landing.rows("oms/reservations"), ("reservation_id",)).values():
        if row["event_type"] == "created" and row["expires_at"] is not None and row["expires_at"] > as_of:
            position[(row["location_id"], row["sku"])]["reserved"] += row["qty"]
    for row in landing.newest_per_scope("oms/order_lines", None).get("", []):
        if row["status"] in ("allocated", "picked"):
            position[(row["location_id"], row["sku"])]["committed"] += row["qty_open"]
    for row in landing.newest_per_scope("erp/transfers", None).get("", []):
        if row["status"] == "shipped":
            moving = row["qty"] - (row["received_qty"] or 0)
            position[(row["to_location_id"], row["sku"])]["in_transit_in"] += moving
            position[(row["from_location_id"], row["sku"])]["in_transit_out"] += moving
    for row in landing.newest_per_scope("erp/purchase_orders", None).get("", []):
        position[(row["location_id"], row["sku"])]["on_order"] += row["qty_open"]
    for row in landing.newest_per_scope("erp/stock_policy", None).get("", []):
        if (row["location_id"], row["sku"]) in position:
            position[(row["location_id"], row["sku"])]["safety_stock"] = row["safety_stock"]

    for p in position.values():
        p["available"] = p["on_hand"] - p["damaged"] - p["quarantined"] - p["returned"]
    return dict(position)


def channel_ats(landing: Landing, position: dict[Key, dict[str, int]]) -> dict[tuple[str, str], int]:
    """atp_by_channel.ats per (channel_id, sku) for every sku the channel lists."""
    locations = {r["location_id"]: r for r in landing.newest_per_scope("erp/locations", None)[""]}
    policies = {r["channel_id"]: r for r in landing.newest_per_scope("erp/channel_policy", None)[""]}
    unallocated: dict[tuple[str, str], int] = defaultdict(int)
    for row in latest_by(landing.rows("channel/orders"), ("channel_id", "order_id", "sku")).values():
        if row["status"] == "accepted":
            unallocated[(row["channel_id"], row["sku"])] += row["qty"]
    atp = {
        k: max(0, p["available"] - p["reserved"] - p["committed"] - p["safety_stock"])
        for k, p in position.items()
    }
    out = {}
    for channel_id, listings in landing.newest_per_scope("channel/listings", "channel_id").items():
        policy = policies[channel_id]
        types = set(policy["fulfillment_location_types"].split(";"))
        nodes = [
            loc
            for loc, r in locations.items()
            if r["location_type"] in types
            and (r["pickup_enabled"] if policy["channel_type"] == "store" else r["ships_to_customer"])
        ]
        for row in listings:
            pool = sum(atp.get((node, row["sku"]), 0) for node in nodes)
            share = int(pool * policy["max_share_pct"] // 100)
            out[(channel_id, row["sku"])] = max(
                0, share - policy["channel_safety_stock"] - unallocated[(channel_id, row["sku"])]
            )
    return out


def read_truth(path: Path) -> dict[Key, dict[str, int]]:
    import csv
    import gzip

    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return {
            (row["location_id"], row["sku"]): {q: int(row[q]) for q in QUANTITY_COLUMNS}
            for row in csv.DictReader(handle)
        }
