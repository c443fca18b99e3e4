"""Replenishment policies and the physical and committed stock of every location and sku.

All state is dense (locations x skus) int32 arrays: at 302 x 20,000 each array is 24 MB, and
vectorised updates keep a simulated day to seconds.

Buckets follow CONTRACT section 3. For a store, `available + damaged` is what the till counts
and `returned` (returns received but not inspected) is on the shelf but not in the till; for a
DC the five arrays are the WMS status buckets. Physical on_hand is always the sum of all five.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from orchestration.simulator.demand import DemandModel
from orchestration.simulator.world import World

SERVICE_FACTOR = 1.65  # ~95 % cycle service level
STORE_REVIEW_DAYS = 7
DC_REVIEW_DAYS = 14
SHELF_MINIMUM = 2  # presentation stock of an active sku in a store
# Share of pairs that open below their reorder point: about one day's worth of replenishment
# (stores: already on a transfer from yesterday's run; DCs: on a purchase order).
OPENING_SHORT_STORE = 0.015
OPENING_SHORT_DC = 0.05
ROWS_PER_BLOCK = 32


@dataclass
class Policy:
    safety_stock: np.ndarray
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    lead_time_days: np.ndarray


def _sized(daily: np.ndarray, lead: np.ndarray, review_days: int, minimum: int) -> tuple[np.ndarray, ...]:
    safety = np.ceil(SERVICE_FACTOR * np.sqrt(daily * lead))
    reorder = np.maximum(safety + np.ceil(daily * lead), minimum)
    up_to = reorder + np.maximum(1, np.ceil(daily * review_days))
    return safety, reorder, up_to


def build_policy(world: World, demand: DemandModel, rng: np.random.Generator) -> Policy:
    n_loc, n_sku, n_dcs = world.n_locations, world.n_skus, world.n_dcs
    lead = np.empty((n_loc, n_sku), dtype=np.int16)
    safety = np.zeros((n_loc, n_sku), dtype=np.int32)
    reorder = np.zeros((n_loc, n_sku), dtype=np.int32)
    up_to = np.zeros((n_loc, n_sku), dtype=np.int32)

    store_lead = rng.integers(1, 3, world.n_stores)
    dc_daily = np.zeros((n_dcs, n_sku))
    # Row blocks keep the float temporaries small (a few MB instead of a few hundred).
    for first in range(0, world.n_stores, ROWS_PER_BLOCK):
        stores = np.arange(first, min(first + ROWS_PER_BLOCK, world.n_stores))
        daily = np.outer(demand.store_daily_units[stores], demand.sku_weight)
        rows = stores + n_dcs
        lead[rows] = store_lead[stores, None]
        s, r, u = _sized(daily, store_lead[stores, None], STORE_REVIEW_DAYS, SHELF_MINIMUM)
        safety[rows], reorder[rows], up_to[rows] = s, r, u
        np.add.at(dc_daily, world.loc_region[rows], daily)

    # A DC covers its region's stores plus its share of the online channels.
    channel_daily = demand.channel_daily_demand() / n_dcs
    dc_lead = rng.integers(5, 15, (n_dcs, n_sku))
    for dc in range(n_dcs):
        s, r, u = _sized(dc_daily[dc] + channel_daily, dc_lead[dc], DC_REVIEW_DAYS, 0)
        safety[dc], reorder[dc], up_to[dc], lead[dc] = s, r, u, dc_lead[dc]

    # Discontinued skus are sold down, never replenished.
    for arr in (safety, reorder, up_to):
        arr[:, ~world.active] = 0
    return Policy(safety, reorder, up_to, lead)


@dataclass
class Stock:
    available: np.ndarray
    damaged: np.ndarray
    quarantine: np.ndarray
    on_hold: np.ndarray
    returned: np.ndarray
    reserved: np.ndarray  # OMS reservations whose latest event is `created` and not yet expired
    committed: np.ndarray  # open order lines (allocated, picked)
    in_transit_in: np.ndarray  # shipped transfers not yet received
    on_order: np.ndarray  # open purchase order qty
    # Feeds of a location report `available + report_offset` (a receipt the system missed).
    report_offset: dict[tuple[int, int], int] = field(default_factory=dict)
    # The ERP books show `on_hand + book_offset` (shrink the books never saw, missed receipts).
    book_offset: dict[tuple[int, int], int] = field(default_factory=dict)

    @classmethod
    def empty(cls, n_loc: int, n_sku: int) -> Stock:
        def zeros() -> np.ndarray:
            return np.zeros((n_loc, n_sku), dtype=np.int32)

        return cls(zeros(), zeros(), zeros(), zeros(), zeros(), zeros(), zeros(), zeros(), zeros())

    def on_hand(self) -> np.ndarray:
        return self.available + self.damaged + self.quarantine + self.on_hold + self.returned

    def free(self, loc: int | np.ndarray, sku: int | np.ndarray) -> np.ndarray:
        """Units that can still be promised: sellable minus what orders already hold."""
        return self.available[loc, sku] - self.reserved[loc, sku] - self.committed[loc, sku]

    def reported_available(self, loc: int) -> np.ndarray:
        values = self.available[loc].astype(np.int64)
        for (offset_loc, sku), offset in self.report_offset.items():
            if offset_loc == loc:
                values[sku] += offset
        return values

    def book_qty(self, locs: np.ndarray) -> np.ndarray:
        """Book units of some locations (rows in the order given)."""
        book = (
            self.available[locs].astype(np.int64)
            + self.damaged[locs]
            + self.quarantine[locs]
            + self.on_hold[locs]
            + self.returned[locs]
        )
        row_of = {int(loc): i for i, loc in enumerate(locs)}
        for (loc, sku), offset in self.book_offset.items():
            if loc in row_of:
                book[row_of[loc], sku] += offset
        return book


def initial_stock(world: World, policy: Policy, rng: np.random.Generator) -> Stock:
    """Opening stock: most pairs between reorder point and order-up-to, some already below."""
    n_loc, n_sku, dcs = world.n_locations, world.n_skus, world.n_dcs
    stock = Stock.empty(n_loc, n_sku)
    discontinued = ~world.active
    for first in range(0, n_loc, ROWS_PER_BLOCK):
        rows = slice(first, min(first + ROWS_PER_BLOCK, n_loc))
        shape = (rows.stop - rows.start, n_sku)
        low = policy.reorder_point[rows].astype(np.int64)
        high = policy.order_up_to[rows].astype(np.int64)
        short_share = np.where(np.arange(rows.start, rows.stop) < dcs, OPENING_SHORT_DC, OPENING_SHORT_STORE)
        below = rng.random(shape) < short_share[:, None]
        available = np.where(below, rng.integers(0, np.maximum(low, 1)), rng.integers(low, high + 1))
        # Discontinued skus: a few units left to sell down.
        available[:, discontinued] = rng.integers(0, 4, (shape[0], int(discontinued.sum())))
        stock.available[rows] = available
        stock.damaged[rows] = (rng.random(shape) < 0.02) * rng.integers(1, 3, shape)
    stock.damaged[:dcs] += (rng.random((dcs, n_sku)) < 0.01) * rng.integers(1, 4, (dcs, n_sku))
    stock.quarantine[:dcs] = (rng.random((dcs, n_sku)) < 0.005) * rng.integers(1, 6, (dcs, n_sku))
    stock.on_hold[:dcs] = (rng.random((dcs, n_sku)) < 0.005) * rng.integers(1, 6, (dcs, n_sku))
    return stock
