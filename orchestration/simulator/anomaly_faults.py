"""The faults that AI-assisted operations must find (docs/ai.md): recurring_count_variance,
demand_spike and movement_anomaly.

They draw from a random stream of their own (derived from the seed), so enabling them leaves
every other fault and the world's own draws unchanged. Each is hidden in the world's ordinary
noise: stores shrink and damage units before every count, DCs damage and adjust units every
day, and marketplaces run promotions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from orchestration.simulator.clock import DAY_SECONDS, Clock, iso
from orchestration.simulator.config import SimulationConfig
from orchestration.simulator.manifest import Manifest
from orchestration.simulator.world import Channel, World

if TYPE_CHECKING:
    from orchestration.simulator.engine import SimContext, Task

ANOMALY_KINDS = ("recurring_count_variance", "demand_spike", "movement_anomaly")
OWN_STREAM = 22  # mixed into the seed: this module's stream is independent of the others
SHRINK_SKUS_PER_COUNT = (3, 7)  # skus a recurring-variance store loses units of, per count
SPIKE_LINES_PER_DAY = (30, 60)  # extra order lines of the spiked channel x sku in its window
MOVEMENTS_PER_ANOMALY = (8, 14)  # unusual damages and shrink adjustments at one DC in a day
MOVEMENT_QTY = (3, 9)
MOVEMENT_MOVE = "anomalous_movement"


class AnomalyFaults:
    def __init__(
        self,
        config: SimulationConfig,
        world: World,
        clock: Clock,
        manifest: Manifest,
        kinds: frozenset[str],
        rate: float,
    ) -> None:
        self.world, self.clock, self.manifest = world, clock, manifest
        self.rng = np.random.default_rng(np.random.SeedSequence([config.seed, OWN_STREAM]))
        # The window of the spike and the movements: the newest day (the whole period if shorter).
        self.window_start = max(clock.start, clock.end - DAY_SECONDS)
        self.shrinking_stores: list[int] = []
        self.spikes: dict[int, int | None] = {}  # channel index -> sku index (None until the window)
        # Each fault's true impact, accumulated as it happens (the manifest's impact_units and
        # impact_value, in the currency's units): what benchmarks/ai.py ranks the queue against.
        self.impacts: dict[tuple[str, int], dict] = {}
        self.spike_lines_per_day = 0
        self.movement_dcs: list[int] = []
        stores = list(range(world.n_dcs, world.n_locations))

        def count(n: int) -> int:
            return min(n, max(1, round(rate * n)))

        if "recurring_count_variance" in kinds and stores:
            self.shrinking_stores = sorted(
                stores[i] for i in self.rng.choice(len(stores), count(len(stores)), replace=False)
            )
            for store in self.shrinking_stores:
                manifest.add(
                    "recurring_count_variance",
                    None,
                    store,
                    None,
                    self._impact(
                        "recurring_count_variance",
                        store,
                        {"cause": "units lost before every count, never booked", "from": iso(clock.start)},
                    ),
                )
        channels = [c for c in world.channels if c.has_feeds and len(c.listed)]
        if "demand_spike" in kinds and channels:
            self.spike_lines_per_day = int(self.rng.integers(*SPIKE_LINES_PER_DAY))
            # The sku is chosen when the window opens, among those the channel then publishes
            # most of: a spike of a sku it cannot sell writes no order line (nothing to find).
            for i in sorted(self.rng.choice(len(channels), count(len(channels)), replace=False).tolist()):
                self.spikes[channels[i].index] = None
        if "movement_anomaly" in kinds:
            dcs = list(range(world.n_dcs))
            self.movement_dcs = sorted(int(d) for d in self.rng.choice(dcs, count(len(dcs)), replace=False))
            for dc in self.movement_dcs:
                manifest.add(
                    "movement_anomaly",
                    None,
                    dc,
                    None,
                    self._impact(
                        "movement_anomaly",
                        dc,
                        {"window_start": iso(self.window_start), "window_end": iso(clock.end)},
                    ),
                )

    def _impact(self, kind: str, key: int, details: dict) -> dict:
        """`details` with a zero impact that the fault's events add to (the manifest keeps the dict)."""
        details.update(impact_units=0, impact_value=0.0)
        self.impacts[(kind, key)] = details
        return details

    def _add_impact(self, kind: str, key: int, sku: int, units: int) -> None:
        details = self.impacts[(kind, key)]
        details["impact_units"] += units
        details["impact_value"] = round(
            details["impact_value"] + units * int(self.world.unit_cost_cents[sku]) / 100, 2
        )

    # --- recurring_count_variance ------------------------------------------------------------

    def shrink_before_count(self, ctx: SimContext) -> None:
        """A few units of a few skus vanish before every count: the count shows it, the books not."""
        stock = ctx.stock
        for store in self.shrinking_stores:
            candidates = np.flatnonzero(self.world.active & (stock.available[store] >= 2))
            n = min(len(candidates), int(self.rng.integers(*SHRINK_SKUS_PER_COUNT)))
            for sku in sorted(self.rng.choice(candidates, size=n, replace=False).tolist()):
                k = int(self.rng.integers(1, 3))
                stock.available[store, sku] -= k
                stock.book_offset[(store, sku)] = stock.book_offset.get((store, sku), 0) + k
                self._add_impact("recurring_count_variance", store, sku, k)

    # --- demand_spike ------------------------------------------------------------------------

    def spike_lines(
        self,
        channel: Channel,
        tick_start: int,
        tick_seconds: int,
        skus: np.ndarray,
        qtys: np.ndarray,
        published: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Extra order lines of the channel's spiked sku inside the window (`published`: what the
        channel may still sell, per sku index)."""
        if channel.index not in self.spikes or tick_start < self.window_start:
            return skus, qtys
        sku = self.spikes[channel.index]
        if sku is None:
            sku = self.spikes[channel.index] = self._choose_spiked_sku(channel, published)
        n = int(self.rng.poisson(self.spike_lines_per_day * tick_seconds / DAY_SECONDS))
        if not n:
            return skus, qtys
        extra_qty = self.rng.integers(1, 4, n).astype(np.int64)
        # The impact is the extra demand the channel can meet (it is what gets ordered).
        self._add_impact("demand_spike", channel.index, sku, min(int(extra_qty.sum()), int(published[sku])))
        return np.concatenate([skus, np.full(n, sku, dtype=skus.dtype)]), np.concatenate([qtys, extra_qty])

    def _choose_spiked_sku(self, channel: Channel, published: np.ndarray) -> int:
        listed = channel.listed
        stocked = listed[published[listed] >= np.quantile(published[listed], 0.75)]
        sku = int(self.rng.choice(stocked if len(stocked) else listed))
        self.manifest.add(
            "demand_spike",
            None,
            None,
            sku,
            self._impact(
                "demand_spike",
                channel.index,
                {
                    "channel_id": channel.channel_id,
                    "window_start": iso(self.window_start),
                    "window_end": iso(self.clock.end),
                    "extra_lines_per_day": self.spike_lines_per_day,
                },
            ),
        )
        return sku

    # --- movement_anomaly --------------------------------------------------------------------

    def plan_movements(self, ctx: SimContext, day_start: int) -> None:
        if day_start + DAY_SECONDS <= self.window_start or day_start >= self.clock.end:
            return
        low = max(day_start, self.window_start)
        high = min(day_start + DAY_SECONDS, self.clock.end)
        for dc in self.movement_dcs:
            active = np.flatnonzero(self.world.active)
            for _ in range(int(self.rng.integers(*MOVEMENTS_PER_ANOMALY))):
                sku = int(self.rng.choice(active))
                qty = int(self.rng.integers(*MOVEMENT_QTY))
                kind = "damage" if self.rng.random() < 0.5 else "shrink"
                ctx.agenda.at(int(self.rng.integers(low, high)), MOVEMENT_MOVE, (dc, sku, qty, kind))

    def movement(self, ctx: SimContext, task: Task) -> None:
        dc, sku, qty, kind = task.payload
        qty = min(qty, int(ctx.stock.free(dc, sku)))
        if qty < 1:
            return
        self._add_impact("movement_anomaly", dc, sku, qty)
        ref = f"ADJ-{self.world.loc_ids[dc]}-{task.seq}"
        if kind == "damage":
            ctx.dc_move(dc, sku, "damage", "available", -qty, ref, task.ts)
            ctx.dc_move(dc, sku, "damage", "damaged", qty, ref, task.ts)
        else:
            ctx.dc_move(dc, sku, "adjustment", "available", -qty, ref, task.ts)
