"""Without faults, CONTRACT section 3 applied to the files reproduces the ground truth exactly.

The reference computation (tests/simulator/contract.py) reads only the landing files and knows
nothing of the simulator's internals.
"""

from __future__ import annotations

from collections import Counter

import pytest

from orchestration.simulator.truth import QUANTITY_COLUMNS
from tests.simulator.contract import Landing, channel_ats, inventory_position, read_truth
from tests.simulator.landing_reader import read_file
from tests.support.simulations import Run


@pytest.mark.parametrize("run_name", ["clean_run", "daily_run"])
def test_inventory_position_from_files_equals_truth(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    assert run.manifest == []
    landing = Landing.load(run.landing)
    position = inventory_position(landing)
    truth = read_truth(run.truth_file)
    config = run.config
    assert len(truth) == (config.stores + config.dcs) * config.skus
    assert set(position) == set(truth)
    mismatches = [
        (key, q, position[key][q], truth[key][q])
        for key in truth
        for q in QUANTITY_COLUMNS
        if position[key][q] != truth[key][q]
    ]
    assert mismatches == []
    # The comparison is not vacuous: stock, damage, returns and promises are all there.
    totals = Counter()
    for row in truth.values():
        totals.update({q: v for q, v in row.items() if v})
    for quantity in (
        "on_hand",
        "damaged",
        "quarantined",
        "available",
        "committed",
        "on_order",
        "safety_stock",
    ):
        assert totals[quantity] > 0, quantity


def test_roll_forward_is_exercised(clean_run: Run) -> None:
    """The period ends after the last count: sales and movements after it must be applied."""
    landing = Landing.load(clean_run.landing)
    newest_count = max(r["snapshot_ts"] for r in landing.rows("pos/inventory"))
    assert newest_count < landing.as_of
    assert any(r["event_ts"] > newest_count for r in landing.rows("pos/sales"))
    assert any(r["event_ts"] > newest_count for r in landing.rows("wms/movements"))
    assert any(r["status"] == "received" for r in landing.rows("oms/returns"))


@pytest.mark.parametrize("run_name", ["clean_run", "daily_run"])
def test_listings_publish_exactly_the_channel_ats(run_name: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(run_name)
    landing = Landing.load(run.landing)
    ats = channel_ats(landing, read_truth(run.truth_file))
    newest = landing.newest_per_scope("channel/listings", "channel_id")
    assert set(newest) == {c for c in run.config.channels}
    published = {(r["channel_id"], r["sku"]): r["published_qty"] for rows in newest.values() for r in rows}
    assert published == ats
    assert sum(published.values()) > 0


def test_replenishment_moves_stock(clean_run: Run) -> None:
    landing = Landing.load(clean_run.landing)
    movements = Counter(r["movement_type"] for r in landing.rows("wms/movements"))
    assert movements["receipt"] > 0 and movements["transfer_out"] > 0 and movements["shipment"] > 0
    statuses = Counter(r["status"] for r in landing.rows("erp/transfers"))
    assert statuses["received"] > 0 and statuses["shipped"] > 0
    # A store's count after a delivery includes it: some sku's on_hand rose between two counts
    # by at least what a received transfer brought (sales only lower it).
    counts = sorted(landing.rows("pos/inventory"), key=lambda r: r["snapshot_ts"])
    first, last = counts[0]["snapshot_ts"], counts[-1]["snapshot_ts"]
    before = {(r["location_id"], r["sku"]): r["on_hand"] for r in counts if r["snapshot_ts"] == first}
    received = [r for r in landing.newest_per_scope("erp/transfers", None)[""] if r["status"] == "received"]
    risen = [
        r
        for r in received
        if any(
            c["snapshot_ts"] == last
            and c["location_id"] == r["to_location_id"]
            and c["sku"] == r["sku"]
            and c["on_hand"] > before[(r["to_location_id"], r["sku"])]
            for c in counts
        )
    ]
    assert risen


def test_demand_is_skewed_and_follows_store_hours(clean_run: Run) -> None:
    landing = Landing.load(clean_run.landing)
    units = Counter()
    walk_in_hours = Counter()
    shipped_orders = {r["reference"] for r in landing.rows("wms/movements")}
    for sale in landing.rows("pos/sales"):
        if sale["qty"] > 0:
            units[sale["sku"]] += sale["qty"]
            walk_in_hours[sale["event_ts"].hour] += 1
    top = sum(q for _, q in units.most_common(max(1, clean_run.config.skus // 20)))
    assert top / sum(units.values()) > 0.3  # the top 5 % of skus sell over 30 % of the units
    night = sum(n for hour, n in walk_in_hours.items() if hour < 6)
    assert night < 0.05 * sum(walk_in_hours.values())  # stores are closed; only ship-from-store
    assert shipped_orders  # DCs ship online orders


def test_book_and_gl_match_physical_without_faults(daily_run: Run) -> None:
    truth = read_truth(daily_run.truth_file)
    landing = Landing.load(daily_run.landing)
    books = landing.newest_per_scope("erp/book_inventory", None)[""]
    assert {(r["location_id"], r["sku"]): r["book_qty"] for r in books} == {
        k: v["on_hand"] for k, v in truth.items()
    }
    gl = landing.newest_per_scope("erp/gl_balances", None)[""]
    locations = {r["location_id"]: r["legal_entity"] for r in landing.rows("erp/locations")}
    by_entity = Counter()
    for row in books:
        by_entity[locations[row["location_id"]]] += row["book_value"]
    assert {r["legal_entity"]: r["balance"] for r in gl} == dict(by_entity)
    assert len(gl) == 2  # two regions, two legal entities


def test_snapshot_files_carry_their_own_instant(daily_run: Run) -> None:
    for relative in (
        f"pos/inventory/pos_inventory_S0001_{s}.csv.gz" for s in ("20261101T0000Z", "20261102T0000Z")
    ):
        item = read_file(daily_run.landing, relative)
        assert len(item.rows) == daily_run.config.skus
        assert {r["snapshot_ts"].strftime("%Y%m%dT%H%MZ") for r in item.rows} == {relative[-21:-7]}
