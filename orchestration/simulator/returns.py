"""Customer returns of online orders: initiated -> received at a store or DC -> inspected.

A DC books every step in the WMS (`returned` bucket, then the disposition's bucket). A store
keeps received returns on the shelf but out of the till count (CONTRACT: `returned` is added to
the till's on_hand) and inspects them at its next count, which then includes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from orchestration.simulator.clock import PHASE_B, PHASE_C, TICK_SECONDS, day_stamp
from orchestration.simulator.demand import WEB_INTRADAY, WEEKDAY_FACTOR
from orchestration.simulator.engine import SimContext, Task

RETURNS_PER_ORDER_LINE = 0.06
WEB_RETURNS_TO_STORE = 0.4
DC_DISPOSITIONS = (
    ("restock", "available", "adjustment"),
    ("damaged", "damaged", "damage"),
    ("quarantine", "quarantine", "adjustment"),
)
DC_DISPOSITION_P = (0.75, 0.15, 0.10)
STORE_RESTOCK_P = 0.8
# A store inspects returns that were on its shelf for at least this long before a count.
STORE_INSPECTION_MIN_SECONDS = 1800


@dataclass
class Return:
    return_id: str
    order_id: str
    sku: int
    location: int
    qty: int
    received_at: int = -1


class ReturnFlow:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng.returns
        self.channels = [ch for ch in ctx.world.channels if ch.has_feeds and len(ch.listed)]
        lines = np.array([ch.daily_lines for ch in self.channels], dtype=np.float64)
        self.daily_returns = RETURNS_PER_ORDER_LINE * float(lines.sum())
        self.channel_p = lines / lines.sum() if len(lines) else lines
        self.pickup_stores = np.flatnonzero(ctx.world.pickup_enabled)
        # Popular skus come back more often.
        weight = ctx.demand.sku_weight
        self._sku_cum = {
            ch.index: np.cumsum(weight[ch.listed]) / weight[ch.listed].sum() for ch in self.channels
        }
        self.awaiting_store_inspection: list[Return] = []
        self._counter: dict[str, int] = {}

    def _return_id(self, ts: int) -> str:
        day = day_stamp(ts)
        n = self._counter.get(day, 0) + 1
        self._counter[day] = n
        return f"RMA-{day}-{n:06d}"

    def _event(self, ret: Return, status: str, disposition: str | None, ts: int) -> None:
        self.ctx.buffers.returns.append(
            return_id=ret.return_id,
            order_id=ret.order_id,
            sku=ret.sku,
            location_id=ret.location,
            qty=ret.qty,
            status=status,
            disposition=disposition,
            event_ts=ts,
        )

    def arrivals(self, tick_start: int) -> None:
        if not self.channels:
            return
        ctx = self.ctx
        tick_of_day = ctx.clock.minute_of_day(tick_start) * 60 // TICK_SECONDS
        lam = self.daily_returns * WEEKDAY_FACTOR[ctx.clock.weekday(tick_start)] * WEB_INTRADAY[tick_of_day]
        n = int(self.rng.poisson(lam))
        for ts in np.sort(tick_start + self.rng.integers(PHASE_B, PHASE_C, n)).tolist():
            channel = self.channels[int(self.rng.choice(len(self.channels), p=self.channel_p))]
            cum = self._sku_cum[channel.index]
            sku = int(
                channel.listed[min(int(np.searchsorted(cum, self.rng.random(), side="right")), len(cum) - 1)]
            )
            if (
                channel.channel_type == "web"
                and len(self.pickup_stores)
                and self.rng.random() < WEB_RETURNS_TO_STORE
            ):
                location = int(self.rng.choice(self.pickup_stores))
            else:
                location = int(self.rng.integers(0, ctx.world.n_dcs))
            order_id = f"{channel.channel_id.upper()}-H{int(self.rng.integers(0, 10**7)):07d}"
            ret = Return(self._return_id(ts), order_id, sku, location, 1)
            self._event(ret, "initiated", None, ts)
            ctx.agenda.at(ctx.after(ts, 12, 72, self.rng), "return_receive", ret)

    def receive(self, task: Task) -> None:
        ret: Return = task.payload
        ctx = self.ctx
        ret.received_at = task.ts
        self._event(ret, "received", None, task.ts)
        if ret.location < ctx.world.n_dcs:
            ctx.dc_move(ret.location, ret.sku, "return_receipt", "returned", ret.qty, ret.return_id, task.ts)
            ctx.agenda.at(ctx.after(task.ts, 12, 72, self.rng), "return_inspect", ret)
        else:
            ctx.stock.returned[ret.location, ret.sku] += ret.qty
            self.awaiting_store_inspection.append(ret)

    def inspect_at_dc(self, task: Task) -> None:
        ret: Return = task.payload
        disposition, bucket, movement = DC_DISPOSITIONS[int(self.rng.choice(3, p=DC_DISPOSITION_P))]
        self._event(ret, "inspected", disposition, task.ts)
        self.ctx.dc_move(ret.location, ret.sku, "adjustment", "returned", -ret.qty, ret.return_id, task.ts)
        self.ctx.dc_move(ret.location, ret.sku, movement, bucket, ret.qty, ret.return_id, task.ts)

    def inspect_at_stores(self, count_at: int) -> None:
        """Stores inspect shelf returns just before their count; the count then includes them."""
        stock = self.ctx.stock
        waiting: list[Return] = []
        ts = count_at - TICK_SECONDS + PHASE_C
        for ret in self.awaiting_store_inspection:
            if ret.received_at > count_at - STORE_INSPECTION_MIN_SECONDS:
                waiting.append(ret)
                continue
            restock = self.rng.random() < STORE_RESTOCK_P
            self._event(ret, "inspected", "restock" if restock else "damaged", ts)
            stock.returned[ret.location, ret.sku] -= ret.qty
            stock.available[ret.location, ret.sku] += ret.qty
            if not restock:  # damaged units stay in the till's on_hand, flagged damaged
                stock.damaged[ret.location, ret.sku] += ret.qty
                stock.available[ret.location, ret.sku] -= ret.qty
        self.awaiting_store_inspection = waiting

    def handlers(self) -> dict[str, Callable[[Task], None]]:
        return {"return_receive": self.receive, "return_inspect": self.inspect_at_dc}
