"""Shop-floor events besides selling: damage, holds, quarantines, count corrections.

DC events go through the WMS (a movement per bucket change). Store events (units marked
damaged, damaged units written off) are only visible in the next till count, so stores do them
right before a count, like deliveries.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from orchestration.simulator.anomaly_faults import MOVEMENT_MOVE
from orchestration.simulator.clock import DAY_SECONDS
from orchestration.simulator.engine import SimContext, Task

# Per DC and day, per sku in the assortment.
DC_EVENTS_PER_SKU_DAY = {
    "damage": 0.002,
    "hold": 0.001,
    "release_hold": 0.001,
    "quarantine": 0.0005,
    "count_correction": 0.001,
}
DC_EVENT_HOURS = (6, 20)
STORE_DAMAGE_PER_SKU_COUNT = 0.001
STORE_WRITE_OFF_SHARE = 0.1


class FloorEvents:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng.operations
        self._sku_cum = ctx.demand.sku_weight.cumsum()

    def plan_day(self, day_start: int) -> None:
        """Schedule the day's DC events at random times within working hours."""
        ctx = self.ctx
        for dc in range(ctx.world.n_dcs):
            for kind, rate in DC_EVENTS_PER_SKU_DAY.items():
                for _ in range(int(self.rng.poisson(rate * ctx.world.n_skus))):
                    second = int(self.rng.integers(DC_EVENT_HOURS[0] * 3600, DC_EVENT_HOURS[1] * 3600))
                    sku = int(np.searchsorted(self._sku_cum, self.rng.random()))
                    ctx.agenda.at(day_start + second, "dc_floor", (dc, kind, min(sku, ctx.world.n_skus - 1)))

    def dc_event(self, task: Task) -> None:
        ctx = self.ctx
        dc, kind, sku = task.payload
        free = int(ctx.stock.free(dc, sku))
        ref = f"FLOOR-{ctx.world.loc_ids[dc]}-{task.seq}"
        if kind == "damage" and free >= 1:
            ctx.dc_move(dc, sku, "damage", "available", -1, ref, task.ts)
            ctx.dc_move(dc, sku, "damage", "damaged", 1, ref, task.ts)
        elif kind == "hold" and free >= 2:
            ctx.dc_move(dc, sku, "adjustment", "available", -2, ref, task.ts)
            ctx.dc_move(dc, sku, "adjustment", "on_hold", 2, ref, task.ts)
        elif kind == "release_hold" and ctx.stock.on_hold[dc, sku] > 0:
            qty = int(ctx.stock.on_hold[dc, sku])
            ctx.dc_move(dc, sku, "adjustment", "on_hold", -qty, ref, task.ts)
            ctx.dc_move(dc, sku, "adjustment", "available", qty, ref, task.ts)
        elif kind == "quarantine" and free >= 1:
            ctx.dc_move(dc, sku, "adjustment", "available", -1, ref, task.ts)
            ctx.dc_move(dc, sku, "adjustment", "quarantine", 1, ref, task.ts)
        elif kind == "count_correction":
            # A recount finds one unit more or less; the books are corrected with it.
            delta = 1 if self.rng.random() < 0.5 or free < 1 else -1
            ctx.dc_move(dc, sku, "adjustment", "available", delta, ref, task.ts)

    def before_store_count(self) -> None:
        """Stores flag a few units damaged and write some damaged units off before counting."""
        ctx = self.ctx
        stock, n_dcs = ctx.stock, ctx.world.n_dcs
        n = int(self.rng.poisson(STORE_DAMAGE_PER_SKU_COUNT * ctx.world.n_skus * ctx.world.n_stores))
        stores = self.rng.integers(n_dcs, ctx.world.n_locations, n)
        skus = np.minimum(np.searchsorted(self._sku_cum, self.rng.random(n)), ctx.world.n_skus - 1)
        pairs = np.unique(np.stack([stores, skus]), axis=1)
        if pairs.size:
            st, sk = pairs[0], pairs[1]
            hit = stock.free(st, sk) >= 1
            stock.available[st[hit], sk[hit]] -= 1
            stock.damaged[st[hit], sk[hit]] += 1
        damaged = stock.damaged[n_dcs:]
        written_off = self.rng.binomial(damaged, STORE_WRITE_OFF_SHARE).astype(np.int32)
        damaged -= written_off
        ctx.faults.anomalies.shrink_before_count(ctx)

    def daily(self, ts: int) -> None:
        if ts % DAY_SECONDS == 0:
            self.plan_day(ts)
            self.ctx.faults.anomalies.plan_movements(self.ctx, ts)

    def handlers(self) -> dict[str, Callable[[Task], None]]:
        anomalies = self.ctx.faults.anomalies
        return {"dc_floor": self.dc_event, MOVEMENT_MOVE: lambda task: anomalies.movement(self.ctx, task)}
