"""Web and marketplace orders: channel events, OMS reservations, order lines, shipping.

Life of an order line (one line per order):
accepted (channel) -> reservation created at a node -> one of
  allocate: reservation fulfilled, channel allocated, order line allocated -> picked -> shipped
            (units leave the node: a WMS shipment at a DC, a till sale at a store);
  release:  the customer cancels: reservation released, channel cancelled;
  expire:   nobody confirms: reservation expired at expires_at, channel cancelled.
Reservations and open lines hold stock, so walk-in sales and transfers never take promised units.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from orchestration.simulator.clock import DAY_SECONDS, PHASE_B, PHASE_C, TICK_SECONDS, day_stamp
from orchestration.simulator.engine import SimContext, Task
from orchestration.simulator.world import Channel

# Reservation hold before it lapses, in ticks (web checkouts are confirmed faster).
HOLD_TICKS = {"web": 24, "marketplace": 48}
OUTCOMES = ("allocate", "release", "expire")
OUTCOME_P = (0.93, 0.04, 0.03)
WEB_PREFERS_DC = 0.7
NEVER_RELEASED_HOLD_SECONDS = 30 * DAY_SECONDS
CLOSED_LINE_SECONDS = DAY_SECONDS


@dataclass
class OrderLine:
    order_id: str
    line_no: int
    channel: Channel
    sku: int
    qty: int
    node: int = -1
    reservation_id: str = ""
    expires_at: int = -1
    status: str = "accepted"
    never_released: bool = False
    closed_at: int = -1


class OrderFlow:
    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        world = ctx.world
        n_channels = len(world.channels)
        self.rng = ctx.rng.orders
        self.unallocated = np.zeros((n_channels, world.n_skus), dtype=np.int32)
        # Units still sellable under the channel's newest listing (a marketplace stops at published_qty).
        self.remaining_listed = np.zeros((n_channels, world.n_skus), dtype=np.int32)
        # Allocated lines, open or shipped within CLOSED_LINE_SECONDS (see snapshot_lines).
        self.lines: dict[tuple[str, int], OrderLine] = {}
        self._nodes = {ch.index: world.eligible_nodes(ch) for ch in world.channels}
        self._order_counter: dict[tuple[str, str], int] = {}
        self._reservation_counter: dict[str, int] = {}

    # --- listings / available-to-sell -------------------------------------------------------

    def ats(self, channel: Channel) -> np.ndarray:
        """CONTRACT section 3 atp_by_channel.ats for every listed sku, from the current state."""
        stock, policy, listed = self.ctx.stock, self.ctx.policy, channel.listed
        nodes = self._nodes[channel.index]
        if not len(nodes) or not len(listed):
            return np.zeros(len(listed), dtype=np.int64)
        grid = np.ix_(nodes, listed)
        atp = (
            stock.available[grid].astype(np.int64)
            - stock.reserved[grid]
            - stock.committed[grid]
            - policy.safety_stock[grid]
        )
        pool = np.maximum(atp, 0).sum(axis=0)
        ats = (
            pool * channel.max_share_pct // 100
            - channel.channel_safety_stock
            - self.unallocated[channel.index, listed]
        )
        return np.maximum(ats, 0)

    def listing(self, channel: Channel, ts: int) -> np.ndarray:
        """Published quantities at `ts` (faults may inflate them); resets what the channel may sell."""
        published = self.ctx.faults.published_qty(channel, ts, self.ats(channel))
        self.remaining_listed[channel.index, :] = 0
        self.remaining_listed[channel.index, channel.listed] = published
        return published

    # --- arrivals ---------------------------------------------------------------------------

    def _order_id(self, channel: Channel, ts: int) -> str:
        day = day_stamp(ts)
        n = self._order_counter.get((channel.channel_id, day), 0) + 1
        self._order_counter[(channel.channel_id, day)] = n
        return f"{channel.channel_id.upper()}-{day}-{n:06d}"

    def _reservation_id(self, ts: int) -> str:
        day = day_stamp(ts)
        n = self._reservation_counter.get(day, 0) + 1
        self._reservation_counter[day] = n
        return f"RSV-{day}-{n:07d}"

    def arrivals(self, tick_start: int) -> None:
        ctx = self.ctx
        for channel in ctx.world.channels:
            if not channel.has_feeds:
                continue
            skus, qtys = ctx.demand.channel_lines(channel, tick_start)
            remaining = self.remaining_listed[channel.index]
            skus, qtys = ctx.faults.anomalies.spike_lines(
                channel, tick_start, TICK_SECONDS, skus, qtys, remaining
            )
            if not len(skus):
                continue
            times = np.sort(tick_start + self.rng.integers(PHASE_B, PHASE_C, len(skus)))
            for sku, qty, ts in zip(skus.tolist(), qtys.tolist(), times.tolist(), strict=True):
                qty = min(qty, int(remaining[sku]))
                if qty <= 0:
                    continue  # not published: the shopper cannot buy it
                remaining[sku] -= qty
                line = OrderLine(self._order_id(channel, ts), 1, channel, sku, qty)
                self._channel_event(line, "accepted", ts)
                self.unallocated[channel.index, sku] += qty
                ctx.agenda.at(ctx.after(ts, 1, 1, self.rng), "reserve", line)

    # --- lifecycle steps --------------------------------------------------------------------

    def _channel_event(self, line: OrderLine, status: str, ts: int) -> None:
        self.ctx.buffers.channel_orders[line.channel.channel_id].append(
            channel_id=line.channel.channel_id,
            order_id=line.order_id,
            sku=line.sku,
            qty=line.qty,
            status=status,
            event_ts=ts,
        )

    def _reservation_event(self, line: OrderLine, event_type: str, ts: int) -> None:
        self.ctx.buffers.reservations.append(
            reservation_id=line.reservation_id,
            event_type=event_type,
            order_id=line.order_id,
            channel_id=line.channel.channel_id,
            location_id=line.node,
            sku=line.sku,
            qty=line.qty,
            expires_at=line.expires_at,
            event_ts=ts,
        )

    def _choose_node(self, line: OrderLine) -> int:
        ctx = self.ctx
        nodes = self._nodes[line.channel.index]
        if not len(nodes):
            return -1
        dcs = self.rng.permutation(nodes[nodes < ctx.world.n_dcs])
        stores = self.rng.permutation(nodes[nodes >= ctx.world.n_dcs])
        prefer_dc = line.channel.channel_type != "web" or self.rng.random() < WEB_PREFERS_DC
        ordered = np.concatenate([dcs, stores] if prefer_dc else [stores, dcs])
        free = ctx.stock.free(ordered, line.sku).astype(np.int64)
        atp = free - ctx.policy.safety_stock[ordered, line.sku]
        for candidates in (atp, free):
            hits = np.flatnonzero(candidates >= line.qty)
            if len(hits):
                return int(ordered[hits[0]])
        return -1

    def reserve(self, task: Task) -> None:
        line: OrderLine = task.payload
        ctx, ts = self.ctx, task.ts
        node = self._choose_node(line)
        if node < 0:
            line.status = "cancelled"
            self._channel_event(line, "cancelled", ts)
            self.unallocated[line.channel.index, line.sku] -= line.qty
            return
        line.node, line.status = node, "reserved"
        line.reservation_id = self._reservation_id(ts)
        outcome = OUTCOMES[int(self.rng.choice(len(OUTCOMES), p=OUTCOME_P))]
        hold = HOLD_TICKS.get(line.channel.channel_type, 48) * TICK_SECONDS
        planned_expiry = ts + hold
        line.never_released = outcome != "allocate" and ctx.faults.never_release(line, ts)
        line.expires_at = ts + NEVER_RELEASED_HOLD_SECONDS if line.never_released else planned_expiry
        self._reservation_event(line, "created", ts)
        ctx.stock.reserved[node, line.sku] += line.qty
        if outcome == "allocate":
            ctx.agenda.at(ctx.after(ts, 2, 12, self.rng), "allocate", line)
        elif outcome == "release":
            ctx.agenda.at(ctx.after(ts, 1, 12, self.rng), "release", line)
        else:
            ctx.agenda.at(planned_expiry, "expire", line)

    def allocate(self, task: Task) -> None:
        line: OrderLine = task.payload
        ctx, ts = self.ctx, task.ts
        self._reservation_event(line, "fulfilled", ts)
        ctx.stock.reserved[line.node, line.sku] -= line.qty
        self._channel_event(line, "allocated", ts)
        self.unallocated[line.channel.index, line.sku] -= line.qty
        ctx.stock.committed[line.node, line.sku] += line.qty
        line.status = "allocated"
        self.lines[(line.order_id, line.line_no)] = line
        ctx.agenda.at(ctx.after(ts, 3, 36, self.rng), "pick", line)

    def _cancel(self, line: OrderLine, event_type: str, ts: int) -> None:
        if not line.never_released:  # the fault: the OMS forgets the reservation, it keeps holding stock
            self._reservation_event(line, event_type, ts)
            self.ctx.stock.reserved[line.node, line.sku] -= line.qty
        self._channel_event(line, "cancelled", ts)
        self.unallocated[line.channel.index, line.sku] -= line.qty
        line.status = "cancelled"

    def release(self, task: Task) -> None:
        self._cancel(task.payload, "released", task.ts)

    def expire(self, task: Task) -> None:
        self._cancel(task.payload, "expired", task.ts)

    def pick(self, task: Task) -> None:
        line: OrderLine = task.payload
        line.status = "picked"
        self.ctx.agenda.at(self.ctx.after(task.ts, 1, 12, self.rng), "ship", line)

    def ship(self, task: Task) -> None:
        line: OrderLine = task.payload
        ctx = self.ctx
        ctx.stock.committed[line.node, line.sku] -= line.qty
        if line.node < ctx.world.n_dcs:
            ctx.dc_move(line.node, line.sku, "shipment", "available", -line.qty, line.order_id, task.ts)
        else:  # ship-from-store: the till records the shipment as a sale
            ctx.store_sale(line.node, line.sku, line.qty, task.ts)
        line.status, line.closed_at = "shipped", task.ts

    def snapshot_lines(self, ts: int) -> list[OrderLine]:
        """Open lines plus lines shipped within the last CLOSED_LINE_SECONDS (qty_open 0).

        Closed lines stay a while so that a snapshot taken when nothing is open still exists and
        says so: an empty snapshot cannot be written (no row to carry its snapshot_ts), and the
        previous one would keep its lines open forever.
        """
        expired = [k for k, x in self.lines.items() if 0 <= x.closed_at < ts - CLOSED_LINE_SECONDS]
        for key in expired:
            del self.lines[key]
        return list(self.lines.values())

    def handlers(self) -> dict[str, Callable[[Task], None]]:
        return {
            "reserve": self.reserve,
            "allocate": self.allocate,
            "release": self.release,
            "expire": self.expire,
            "pick": self.pick,
            "ship": self.ship,
        }
