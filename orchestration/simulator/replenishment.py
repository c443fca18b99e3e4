"""Replenishment that moves stock: DC -> store transfers and supplier purchase orders to DCs.

Daily, at fixed hours of the simulated day:
- 02:00 stores whose available - reserved - committed + in_transit_in is below the reorder point
  request a transfer from their region's DC up to order_up_to (one transfer per store and day);
- 03:00 DCs whose position (plus on_order) is below the reorder point raise purchase orders;
- 04:00 the day's transfers are approved; the DC ships each between 06:00 and 12:00 what it can
  spare (units promised to orders stay), so the origin's on_hand drops when shipped;
- stores book deliveries just before their next count (the count then includes them): a
  transfer is expected at the first count instant at least TRANSIT_SECONDS after shipping;
- purchase order lines arrive on their expected date between 08:00 and 16:00 (WMS receipt).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from orchestration.simulator.clock import DAY_SECONDS, PHASE_C, TICK_SECONDS, day_stamp
from orchestration.simulator.columns import ColumnStore
from orchestration.simulator.engine import SimContext, Task

TRANSFER_STATUSES = ("requested", "approved", "shipped", "received", "cancelled")
REQUESTED, APPROVED, SHIPPED, RECEIVED, CANCELLED = range(5)
TRANSIT_SECONDS = 6 * 3600
# Received and cancelled transfers stay in the ERP's open-or-recent snapshot this long.
RECENT_SECONDS = DAY_SECONDS
STORE_RUN_MINUTE, PO_RUN_MINUTE, APPROVAL_MINUTE = 120, 180, 240
SHIP_WAVE_MINUTES = (360, 720)
RECEIPT_WINDOW_MINUTES = (480, 960)
INITIAL_PO_SHARE = 0.3


class Replenishment:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng.operations
        self.transfer_ids: list[str] = []
        self.transfer_lines: dict[int, slice] = {}
        self.transfers = ColumnStore(
            header=np.int32,
            sku=np.int32,
            from_loc=np.int32,
            to_loc=np.int32,
            qty=np.int64,
            status=np.int8,
            shipped_at=np.int64,
            expected_at=np.int64,
            received_qty=np.int64,
            closed_at=np.int64,
            stuck=np.bool_,
        )
        self._receipts_at: dict[int, list[int]] = defaultdict(list)
        self.po_ids: list[str] = []
        self.purchase_lines = ColumnStore(
            header=np.int32,
            po_line=np.int32,
            sku=np.int32,
            loc=np.int32,
            qty_open=np.int64,
            expected_day=np.int64,
            unit_cost_cents=np.int64,
            open=np.bool_,
            closed_at=np.int64,
        )

    # --- transfers --------------------------------------------------------------------------

    def add_transfer(
        self,
        transfer_id: str,
        dc: int,
        store: int,
        skus: np.ndarray,
        qty: np.ndarray,
        status: int,
        shipped_at: int = -1,
        expected_at: int = -1,
        stuck: bool = False,
    ) -> int:
        header = len(self.transfer_ids)
        self.transfer_ids.append(transfer_id)
        self.transfer_lines[header] = self.transfers.append(
            header=header,
            sku=skus,
            from_loc=dc,
            to_loc=store,
            qty=qty,
            status=status,
            shipped_at=shipped_at,
            expected_at=expected_at,
            received_qty=0,
            closed_at=-1,
            stuck=stuck,
        )
        if status == SHIPPED:
            np.add.at(self.ctx.stock.in_transit_in[store], skus, qty)  # the store's row, a view
            if not stuck:
                self._receipts_at[expected_at].append(header)
        return header

    def _store_needs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ctx = self.ctx
        stores = slice(ctx.world.n_dcs, ctx.world.n_locations)
        s, p = ctx.stock, ctx.policy
        # Transfers requested or approved but not shipped yet count as coming, like in-transit ones.
        pending = np.zeros((ctx.world.n_stores, ctx.world.n_skus), dtype=np.int64)
        t = self.transfers
        waiting = t["status"] <= APPROVED
        np.add.at(pending, (t["to_loc"][waiting] - ctx.world.n_dcs, t["sku"][waiting]), t["qty"][waiting])
        position = (
            s.available[stores].astype(np.int64)
            - s.reserved[stores]
            - s.committed[stores]
            + s.in_transit_in[stores]
            + pending
        )
        need = (position < p.reorder_point[stores]) & ctx.world.active[None, :]
        rows, skus = np.nonzero(need)
        qty = p.order_up_to[stores][rows, skus] - position[rows, skus]
        return rows + ctx.world.n_dcs, skus, qty

    def opening_transfers(self) -> None:
        """Yesterday's replenishment: half already shipped (on the road, DC stock already net),
        half approved and waiting for today's shipping wave."""
        ctx = self.ctx
        locs, skus, qty = self._store_needs()
        day = day_stamp(ctx.clock.start - DAY_SECONDS)
        arrival = ctx.next_booking(ctx.clock.start)
        for store, lines in _groups(locs):
            on_the_road = self.rng.random() < 0.5
            transfer_id = f"TR-{day}-{ctx.world.loc_ids[store]}"
            dc = ctx.world.region_dc(store)
            if on_the_road:
                shipped = ctx.clock.start - int(self.rng.integers(6, 19)) * 3600
                self.add_transfer(transfer_id, dc, store, skus[lines], qty[lines], SHIPPED, shipped, arrival)
            else:
                header = self.add_transfer(transfer_id, dc, store, skus[lines], qty[lines], APPROVED)
                self._schedule_shipping(header, ctx.clock.start)

    def _schedule_shipping(self, header: int, after: int) -> None:
        """Ship in the DC's first shipping wave (06:00-12:00) that starts at or after `after`."""
        ctx = self.ctx
        wave_start, wave_end = SHIP_WAVE_MINUTES
        day_start = after - ctx.clock.minute_of_day(after) * 60
        if ctx.clock.minute_of_day(after) > wave_start:
            day_start += DAY_SECONDS
        minute = int(self.rng.integers(wave_start, wave_end))
        ctx.agenda.at(
            ctx.step_ts(ctx.clock.tick_of(day_start + minute * 60), self.rng), "transfer_ship", header
        )

    def store_run(self, ts: int) -> None:
        ctx = self.ctx
        locs, skus, qty = self._store_needs()
        day = day_stamp(ts)
        for store, lines in _groups(locs):
            header = self.add_transfer(
                f"TR-{day}-{ctx.world.loc_ids[store]}",
                ctx.world.region_dc(store),
                store,
                skus[lines],
                qty[lines],
                REQUESTED,
            )
            self._schedule_shipping(header, ts)

    def approve(self, ts: int) -> None:
        status = self.transfers["status"]
        status[status == REQUESTED] = APPROVED

    def ship(self, task: Task) -> None:
        ctx, header = self.ctx, int(task.payload)
        lines = self.transfer_lines[header]
        t = self.transfers
        dc = int(t["from_loc"][lines][0])
        store = int(t["to_loc"][lines][0])
        skus = t["sku"][lines]
        free = np.maximum(ctx.stock.free(dc, skus).astype(np.int64), 0)
        qty = np.minimum(t["qty"][lines], free)
        shipped = qty > 0
        t["status"][lines] = np.where(shipped, SHIPPED, CANCELLED)
        t["qty"][lines] = np.where(shipped, qty, t["qty"][lines])
        t["closed_at"][lines] = np.where(shipped, -1, task.ts)
        if not shipped.any():
            return
        arrival = ctx.next_booking(task.ts + TRANSIT_SECONDS)
        t["shipped_at"][lines] = np.where(shipped, task.ts, -1)
        t["expected_at"][lines] = np.where(shipped, arrival, -1)
        skus, qty = skus[shipped], qty[shipped]
        ctx.stock.available[dc, skus] -= qty.astype(np.int32)
        ctx.stock.in_transit_in[store, skus] += qty.astype(np.int32)
        n = len(skus)
        ctx.buffers.wms_movements.extend(
            location_id=np.full(n, dc),
            sku=skus.astype(np.int64),
            movement_type=np.full(n, "transfer_out", object),
            qty=-qty,
            status=np.full(n, "available", object),
            reference=np.full(n, self.transfer_ids[header], object),
            event_ts=np.full(n, task.ts),
        )
        self._receipts_at[arrival].append(header)

    def receive_at_stores(self, count_at: int) -> None:
        """Deliveries booked just before the count at `count_at`."""
        stock, t = self.ctx.stock, self.transfers
        for header in self._receipts_at.pop(count_at, []):
            lines = self.transfer_lines[header]
            arriving = (t["status"][lines] == SHIPPED) & ~t["stuck"][lines]
            store, skus, qty = (
                t["to_loc"][lines][arriving],
                t["sku"][lines][arriving],
                t["qty"][lines][arriving],
            )
            np.add.at(stock.available, (store, skus), qty.astype(np.int32))
            np.subtract.at(stock.in_transit_in, (store, skus), qty.astype(np.int32))
            idx = np.arange(lines.start, lines.stop)[arriving]
            t["status"][idx] = RECEIVED
            t["received_qty"][idx] = qty
            t["closed_at"][idx] = count_at - TICK_SECONDS + PHASE_C

    def open_or_recent(self, at: int) -> np.ndarray:
        t = self.transfers
        return np.flatnonzero((t["status"] <= SHIPPED) | (t["closed_at"] >= at - RECENT_SECONDS))

    def in_transit(self) -> tuple[np.ndarray, np.ndarray]:
        """(in_transit_in, in_transit_out) per location and sku from shipped, unreceived lines."""
        ctx, t = self.ctx, self.transfers
        shape = (ctx.world.n_locations, ctx.world.n_skus)
        inbound, outbound = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
        moving = t["status"] == SHIPPED
        open_qty = (t["qty"] - t["received_qty"])[moving].astype(np.int32)
        np.add.at(inbound, (t["to_loc"][moving], t["sku"][moving]), open_qty)
        np.add.at(outbound, (t["from_loc"][moving], t["sku"][moving]), open_qty)
        return inbound, outbound

    # --- purchase orders --------------------------------------------------------------------

    def _add_po(
        self, po_id: str, dc: int, skus: np.ndarray, qty: np.ndarray, expected_day: np.ndarray
    ) -> None:
        ctx = self.ctx
        header = len(self.po_ids)
        self.po_ids.append(po_id)
        self.purchase_lines.append(
            header=header,
            po_line=np.arange(1, len(skus) + 1),
            sku=skus,
            loc=dc,
            qty_open=qty,
            expected_day=expected_day,
            unit_cost_cents=ctx.world.unit_cost_cents[skus],
            open=True,
            closed_at=-1,
        )
        np.add.at(ctx.stock.on_order[dc], skus, qty.astype(np.int32))  # the DC's row, a view
        window_start, window_end = RECEIPT_WINDOW_MINUTES
        for day in np.unique(expected_day).tolist():
            minute = int(self.rng.integers(window_start, window_end))
            tick = ctx.clock.tick_of(day * DAY_SECONDS + minute * 60)
            if 0 <= tick < ctx.clock.n_ticks:
                ctx.agenda.at(ctx.step_ts(tick, self.rng), "po_receipt", (header, day))

    def _raise_pos(
        self, dc: int, skus: np.ndarray, qty: np.ndarray, expected_day: np.ndarray, day: str
    ) -> None:
        category = self.ctx.world.sku_category[skus]
        for cat in np.unique(category).tolist():
            mine = category == cat
            self._add_po(
                f"PO-{day}-{self.ctx.world.loc_ids[dc]}-{cat + 1:02d}",
                dc,
                skus[mine],
                qty[mine],
                expected_day[mine],
            )

    def opening_purchase_orders(self) -> None:
        """Open lines raised before the start; those due within the period arrive in it."""
        ctx, p = self.ctx, self.ctx.policy
        start_day = ctx.clock.start // DAY_SECONDS
        for dc in range(ctx.world.n_dcs):
            pick = ctx.world.active & (
                (self.rng.random(ctx.world.n_skus) < INITIAL_PO_SHARE)
                | (ctx.stock.available[dc] < p.reorder_point[dc])
            )
            skus = np.flatnonzero(pick)
            span = np.maximum(p.order_up_to[dc, skus] - p.reorder_point[dc, skus], 1)
            qty = np.maximum(1, np.ceil(span * self.rng.uniform(0.5, 1.0, len(skus)))).astype(np.int64)
            expected = start_day + self.rng.integers(0, p.lead_time_days[dc, skus].astype(np.int64) + 1)
            self._raise_pos(dc, skus, qty, expected, day_stamp(ctx.clock.start - 7 * DAY_SECONDS))

    def po_run(self, ts: int) -> None:
        ctx, s, p = self.ctx, self.ctx.stock, self.ctx.policy
        today = ts // DAY_SECONDS
        for dc in range(ctx.world.n_dcs):
            position = (
                s.available[dc].astype(np.int64)
                + s.on_order[dc]
                + s.in_transit_in[dc]
                - s.reserved[dc]
                - s.committed[dc]
            )
            skus = np.flatnonzero((position < p.reorder_point[dc]) & ctx.world.active)
            if not len(skus):
                continue
            qty = p.order_up_to[dc, skus] - position[skus]
            self._raise_pos(dc, skus, qty, today + p.lead_time_days[dc, skus].astype(np.int64), day_stamp(ts))

    def po_receipt(self, task: Task) -> None:
        ctx = self.ctx
        header, day = task.payload
        pl = self.purchase_lines
        idx = np.flatnonzero((pl["header"] == header) & (pl["expected_day"] == day) & pl["open"])
        if not len(idx):
            return
        dc = int(pl["loc"][idx[0]])
        skus, qty = pl["sku"][idx], pl["qty_open"][idx]
        ctx.stock.available[dc, skus] += qty.astype(np.int32)
        ctx.stock.on_order[dc, skus] -= qty.astype(np.int32)
        pl["open"][idx] = False
        pl["qty_open"][idx] = 0
        pl["closed_at"][idx] = task.ts
        n = len(idx)
        ctx.buffers.wms_movements.extend(
            location_id=np.full(n, dc),
            sku=skus.astype(np.int64),
            movement_type=np.full(n, "receipt", object),
            qty=qty.astype(np.int64),
            status=np.full(n, "available", object),
            reference=np.full(n, self.po_ids[header], object),
            event_ts=np.full(n, task.ts),
        )

    def open_or_recent_purchase_lines(self, at: int) -> np.ndarray:
        """Open lines, and lines received within RECENT_SECONDS (qty_open 0) so that a snapshot
        taken after the last receipt still says the line is closed."""
        pl = self.purchase_lines
        return np.flatnonzero(pl["open"] | (pl["closed_at"] >= at - RECENT_SECONDS))

    # --- the daily rhythm -------------------------------------------------------------------

    def daily(self, ts: int) -> None:
        minute = self.ctx.clock.minute_of_day(ts)
        if minute == STORE_RUN_MINUTE:
            self.store_run(ts)
        elif minute == PO_RUN_MINUTE:
            self.po_run(ts)
        elif minute == APPROVAL_MINUTE:
            self.approve(ts)

    def handlers(self) -> dict[str, Callable[[Task], None]]:
        return {"transfer_ship": self.ship, "po_receipt": self.po_receipt}


def _groups(keys: np.ndarray) -> list[tuple[int, slice]]:
    """Runs of equal values in a sorted array: (value, slice)."""
    if not len(keys):
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return [(int(keys[a]), slice(int(a), int(b))) for a, b in zip(starts, ends, strict=True)]
