"""The simulation loop: 5-minute ticks from start to end, files written as their slots close.

Per tick: close the event files whose slot ends now, write the snapshots due now (state after
every earlier event), run the daily jobs due now, play the scheduled lifecycle steps, draw new
demand (walk-in sales, channel orders, returns) and, just before a store count, the store
bookings (deliveries, return inspections, damage).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from orchestration.simulator.clock import PHASE_B, PHASE_C, TICK_SECONDS, Clock, TimestampFormatter, iso
from orchestration.simulator.config import SimulationConfig
from orchestration.simulator.demand import DemandModel
from orchestration.simulator.engine import Agenda, Buffers, SimContext
from orchestration.simulator.events import EventStream, event_streams
from orchestration.simulator.faults import FaultInjector
from orchestration.simulator.floor import FloorEvents
from orchestration.simulator.landing_guard import claim_period
from orchestration.simulator.orders import OrderFlow
from orchestration.simulator.randomness import RandomStreams
from orchestration.simulator.replenishment import Replenishment
from orchestration.simulator.returns import ReturnFlow
from orchestration.simulator.snapshots import SnapshotWriter
from orchestration.simulator.stock import build_policy, initial_stock
from orchestration.simulator.truth import MANIFEST_FILE, RUN_FILE, TRUTH_FILE, write_run_file, write_truth
from orchestration.simulator.world import build_world
from orchestration.simulator.writers import TEXT_TYPES, LandingWriter, TableBuilder, Variant, extension


@dataclass(frozen=True)
class SimulationSummary:
    landing_dir: Path
    truth_dir: Path
    truth_file: Path
    manifest_file: Path
    as_of: str
    files_written: int
    bytes_written: int
    rows_per_feed: dict[str, int]
    files_per_feed: dict[str, int]
    faults_injected: int
    seconds: float

    @property
    def rows_written(self) -> int:
        return sum(self.rows_per_feed.values())

    def describe(self) -> str:
        lines = [
            f"simulated up to {self.as_of}: {self.files_written} files, {self.rows_written:,} rows, "
            f"{self.bytes_written / 1e6:.1f} MB in {self.seconds:.1f} s",
            f"landing zone: {self.landing_dir}",
            f"ground truth: {self.truth_file}",
            f"fault manifest: {self.manifest_file} ({self.faults_injected} faults)",
        ]
        lines += [
            f"  {feed}: {self.files_per_feed[feed]} files, {rows:,} rows"
            for feed, rows in sorted(self.rows_per_feed.items())
        ]
        return "\n".join(lines)


class Simulation:
    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        rng = RandomStreams(config.seed)
        clock = Clock.of(config.start, config.days)
        world = build_world(config, rng.masters)
        demand = DemandModel(world, clock, rng.demand)
        policy = build_policy(world, demand, rng.stock)
        stock = initial_stock(world, policy, rng.stock)
        self.streams: list[EventStream] = event_streams([c.channel_id for c in world.channels if c.has_feeds])
        count_times = clock.boundaries(config.pos_snapshot_minutes)
        faults = FaultInjector(config, world, clock, self.streams, count_times, rng.faults)
        self.ctx = SimContext(
            config,
            clock,
            world,
            demand,
            policy,
            stock,
            Agenda(clock),
            Buffers.of(self.streams),
            rng,
            faults,
            count_times,
        )
        self.orders = OrderFlow(self.ctx)
        self.returns = ReturnFlow(self.ctx)
        self.replenishment = Replenishment(self.ctx)
        self.floor = FloorEvents(self.ctx)
        self.replenishment.opening_transfers()
        self.replenishment.opening_purchase_orders()
        faults.apply_opening(stock, policy, self.replenishment)
        self.writer = LandingWriter(config.landing_dir, background=config.background_writes)
        self.builder = TableBuilder(world.loc_ids, world.sku_ids, TimestampFormatter(clock))
        self.snapshots = SnapshotWriter(self.ctx, self.writer, self.builder, self.orders, self.replenishment)
        self.handlers = {
            **self.orders.handlers(),
            **self.returns.handlers(),
            **self.replenishment.handlers(),
            **self.floor.handlers(),
        }
        self._buffers = {buffer.stream.key: buffer for buffer in self.ctx.buffers.all()}

    # --- one tick ---------------------------------------------------------------------------

    def walk_in_sales(self, tick_start: int) -> None:
        """Till sales and till returns of every store; a sale never takes promised or missing units."""
        ctx = self.ctx
        stock, n_skus = ctx.stock, ctx.world.n_skus
        sales = ctx.demand.store_sales(tick_start, PHASE_B, PHASE_C)
        selling = sales.qty > 0
        store, sku, qty, ts = sales.store[selling], sales.sku[selling], sales.qty[selling], sales.ts[selling]
        order = np.lexsort((ts, store * n_skus + sku))
        store, sku, qty, ts = store[order], sku[order], qty[order], ts[order]
        key = store * n_skus + sku
        first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.array([], dtype=bool)
        running = np.cumsum(qty)
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(key)), 0))
        within = running - (running - qty)[group_start]
        keep = within <= stock.free(store, sku)
        np.subtract.at(stock.available, (store[keep], sku[keep]), qty[keep].astype(np.int32))
        till_returns = ~selling
        np.add.at(stock.available, (sales.store[till_returns], sales.sku[till_returns]), 1)
        ctx.buffers.pos_sales.extend(
            location_id=np.concatenate([store[keep], sales.store[till_returns]]),
            sku=np.concatenate([sku[keep], sales.sku[till_returns]]),
            qty=np.concatenate([qty[keep], sales.qty[till_returns]]),
            event_ts=np.concatenate([ts[keep], sales.ts[till_returns]]),
        )

    def store_bookings(self, count_at: int) -> None:
        self.replenishment.receive_at_stores(count_at)
        self.returns.inspect_at_stores(count_at)
        self.floor.before_store_count()

    def flush_event_files(self, slot_end: int) -> None:
        ctx = self.ctx
        for stream in self.streams:
            if (slot_end - ctx.clock.start) % stream.slot_seconds:
                continue
            columns = self._buffers[stream.key].take()
            if stream.key == "pos/sales":
                columns = ctx.faults.drop_stale_sales(columns)
            table = self._event_table(stream, slot_end, columns)

            def write(name: str, tbl: pa.Table, variants: list[Variant], stream: EventStream = stream) -> str:
                return self.writer.write(stream.feed, name, tbl, stream.fmt, stream.channel_id, variants)

            def write_empty(stream: EventStream = stream, empty: pa.Table = table) -> str:
                # JSONL has no header row: an empty slot of a JSONL feed is a header-only CSV.
                fmt = "csv" if stream.fmt.startswith("jsonl") else stream.fmt
                name = stream.file_name(slot_end).removesuffix(extension(stream.fmt)) + extension(fmt)
                return self.writer.write(stream.feed, name, empty, fmt, stream.channel_id)

            ctx.faults.deliver_event_file(stream, slot_end, table, write, write_empty)

    def _event_table(self, stream: EventStream, slot_end: int, columns: dict[str, np.ndarray]) -> pa.Table:
        feed = stream.feed
        if not columns or not len(columns["event_ts"]):
            return pa.table({c.name: pa.array([], TEXT_TYPES[c.type]) for c in feed.columns})
        n = len(columns["event_ts"])
        return self.builder.table(feed, {"event_id": stream.event_ids(slot_end, 1, n), **columns})

    def run(self) -> SimulationSummary:
        started = time.perf_counter()
        ctx, config = self.ctx, self.config
        clock = ctx.clock
        claim_period(config.landing_dir, clock.start, clock.end, self._settings())
        bookings = set(ctx.count_times[1:])
        progress = tqdm(
            total=clock.n_ticks,
            desc="simulating",
            unit="tick",
            file=sys.stderr,
            disable=config.quiet or not sys.stderr.isatty(),
        )
        try:
            for tick in range(clock.n_ticks + 1):
                now = clock.tick_start(tick)
                if tick:
                    self.flush_event_files(now)
                self.snapshots.at(now)
                if tick == clock.n_ticks:
                    break
                self.floor.daily(now)
                self.replenishment.daily(now)
                for task in ctx.agenda.due(tick):
                    self.handlers[task.kind](task)
                self.walk_in_sales(now)
                self.orders.arrivals(now)
                self.returns.arrivals(now)
                if now + TICK_SECONDS in bookings:
                    self.store_bookings(now + TICK_SECONDS)
                progress.update(1)
            ctx.faults.deliver_out_of_order()
            self.writer.drain()
            ctx.faults.finish(self.snapshots.listing_file)
            truth_dir = config.truth_dir
            write_truth(ctx, self.replenishment, truth_dir / TRUTH_FILE)
            ctx.faults.manifest.write(truth_dir / MANIFEST_FILE)
            write_run_file(truth_dir / RUN_FILE, self._run_description())
        finally:
            progress.close()
            self.writer.close()
        stats = self.writer.stats
        return SimulationSummary(
            landing_dir=config.landing_dir,
            truth_dir=config.truth_dir,
            truth_file=config.truth_dir / TRUTH_FILE,
            manifest_file=config.truth_dir / MANIFEST_FILE,
            as_of=iso(clock.end),
            files_written=stats.files,
            bytes_written=stats.bytes,
            rows_per_feed=dict(stats.rows_per_feed),
            files_per_feed=dict(stats.files_per_feed),
            faults_injected=len(ctx.faults.manifest),
            seconds=time.perf_counter() - started,
        )

    def _settings(self) -> dict[str, Any]:
        """What decides the bytes of the files (not where they go, nor how they are written)."""
        config = self.config
        settings = asdict(config)
        for name in ("landing_dir", "truth_dir", "quiet", "background_writes"):
            settings.pop(name)
        settings["start"] = iso(self.ctx.clock.start)
        settings["channels"] = list(config.channels)
        settings["fault_kinds"] = list(config.fault_kinds)
        settings["active_fault_kinds"] = list(config.active_fault_kinds)
        settings["effective_fault_rate"] = config.effective_fault_rate
        return settings

    def _run_description(self) -> dict[str, Any]:
        world = self.ctx.world
        return {
            "config": self._settings(),
            "as_of": iso(self.ctx.clock.end),
            "locations": {
                "dcs": world.n_dcs,
                "stores": world.n_stores,
                "ship_from_stores": int(world.ships_to_customer[world.n_dcs :].sum()),
                "pickup_stores": int(world.pickup_enabled.sum()),
            },
            "regions": {name: world.region_legal_entity[i] for i, name in enumerate(world.region_names)},
            "channels": [
                {
                    "channel_id": c.channel_id,
                    "channel_type": c.channel_type,
                    "listed_skus": len(c.listed),
                    "max_share_pct": c.max_share_pct,
                }
                for c in world.channels
            ],
            "promotions": [p.as_dict(world.sku_ids) for p in self.ctx.demand.promotions],
            "truth_file": TRUTH_FILE,
            "manifest_file": MANIFEST_FILE,
            "faults_injected": len(self.ctx.faults.manifest),
        }


def simulate(config: SimulationConfig) -> SimulationSummary:
    """Write a retailer's feeds into config.landing_dir and the ground truth into config.truth_dir."""
    return Simulation(config).run()
