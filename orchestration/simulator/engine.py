"""The shared simulation context: clock, world, stock, the agenda of future steps, event buffers."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from orchestration.simulator.clock import PHASE_B, Clock
from orchestration.simulator.config import SimulationConfig
from orchestration.simulator.demand import DemandModel
from orchestration.simulator.events import EventBuffer, EventStream
from orchestration.simulator.randomness import RandomStreams
from orchestration.simulator.stock import Policy, Stock
from orchestration.simulator.world import World

if TYPE_CHECKING:
    from orchestration.simulator.faults import FaultInjector


@dataclass(order=True)
class Task:
    ts: int
    seq: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False)


class Agenda:
    """Future lifecycle steps, bucketed by tick; a tick's steps run in (time, creation) order."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._by_tick: dict[int, list[Task]] = defaultdict(list)
        self._seq = itertools.count()

    def at(self, ts: int, kind: str, payload: Any) -> None:
        tick = self.clock.tick_of(ts)
        if tick < self.clock.n_ticks:  # steps after the period end never happen in this run
            self._by_tick[tick].append(Task(ts, next(self._seq), kind, payload))

    def due(self, tick: int) -> list[Task]:
        return sorted(self._by_tick.pop(tick, []))


@dataclass
class Buffers:
    pos_sales: EventBuffer
    wms_movements: EventBuffer
    reservations: EventBuffer
    returns: EventBuffer
    channel_orders: dict[str, EventBuffer]

    @classmethod
    def of(cls, streams: list[EventStream]) -> Buffers:
        by_key = {s.key: EventBuffer(s) for s in streams}
        orders = {s.channel_id: by_key[s.key] for s in streams if s.channel_id}
        return cls(
            by_key["pos/sales"],
            by_key["wms/movements"],
            by_key["oms/reservations"],
            by_key["oms/returns"],
            orders,
        )

    def all(self) -> list[EventBuffer]:
        return [
            self.pos_sales,
            self.wms_movements,
            self.reservations,
            self.returns,
            *self.channel_orders.values(),
        ]


@dataclass
class SimContext:
    config: SimulationConfig
    clock: Clock
    world: World
    demand: DemandModel
    policy: Policy
    stock: Stock
    agenda: Agenda
    buffers: Buffers
    rng: RandomStreams
    faults: FaultInjector
    # Instants of the full store and DC counts: the start, then every --pos-snapshot-minutes.
    # Stores book what the till cannot report (deliveries, inspections) just before a count.
    count_times: list[int]

    def step_ts(self, tick: int, rng: np.random.Generator) -> int:
        """A lifecycle step's time inside `tick`, in the scheduled-steps phase."""
        return self.clock.tick_start(tick) + int(rng.integers(1, PHASE_B))

    def after(self, ts: int, ticks_low: int, ticks_high: int, rng: np.random.Generator) -> int:
        """A step time between `ticks_low` and `ticks_high` ticks after `ts` (inclusive)."""
        tick = self.clock.tick_of(ts) + int(rng.integers(ticks_low, ticks_high + 1))
        return self.step_ts(tick, rng)

    def next_booking(self, ts: int) -> int:
        """First store count instant at or after `ts` (may lie beyond the simulated period)."""
        step = self.config.pos_snapshot_minutes * 60
        k = max(1, -(-(ts - self.clock.start) // step))
        return self.clock.start + k * step

    # --- physical moves, each with the feed row that reports it -----------------------------

    def dc_move(
        self, loc: int, sku: int, movement_type: str, status: str, qty: int, reference: str | None, ts: int
    ) -> None:
        bucket: np.ndarray = getattr(self.stock, status)
        bucket[loc, sku] += qty
        self.buffers.wms_movements.append(
            location_id=loc,
            sku=sku,
            movement_type=movement_type,
            qty=qty,
            status=status,
            reference=reference,
            event_ts=ts,
        )

    def store_sale(self, loc: int, sku: int, qty: int, ts: int) -> None:
        self.stock.available[loc, sku] -= qty
        self.buffers.pos_sales.append(location_id=loc, sku=sku, qty=qty, event_ts=ts)
