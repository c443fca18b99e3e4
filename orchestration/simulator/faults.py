"""Fault injection: planned from the fault random stream, applied where the world or a file is made.

Planning draws only from the fault stream, so enabling faults leaves the world's own draws (and
so its demand and operations) unchanged. A file fault planned for a slot that turns out empty
moves to the stream's next non-empty file. Broken deliveries are extra files: the source also
delivers the correct file, so they change nothing that really happened.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from orchestration.simulator.anomaly_faults import AnomalyFaults
from orchestration.simulator.clock import DAY_SECONDS, Clock, day_stamp, iso, stamp
from orchestration.simulator.config import SimulationConfig
from orchestration.simulator.deliveries import BROKEN_SUFFIX, RESENT_SUFFIX, broken, resent
from orchestration.simulator.events import EventStream
from orchestration.simulator.manifest import Manifest
from orchestration.simulator.replenishment import SHIPPED, Replenishment
from orchestration.simulator.stock import Policy, Stock
from orchestration.simulator.world import Channel, World
from orchestration.simulator.writers import Variant, extension

# Event feeds whose files can be late, repeat event ids, or be re-sent.
LATE_OR_DUPLICATE_STREAMS = ("pos/sales", "wms/movements", "oms/reservations", "oms/returns", "channel")
ROW_FAULT_STREAMS = ("pos/sales", "wms/movements")
BROKEN_CSV_STREAMS = ("pos/sales", "wms/movements")
EVENT_FILE_KINDS = (
    ("late_feed", LATE_OR_DUPLICATE_STREAMS),
    ("duplicate_event_id", LATE_OR_DUPLICATE_STREAMS),
    ("duplicate_file", LATE_OR_DUPLICATE_STREAMS),
    ("unknown_sku", ROW_FAULT_STREAMS),
    ("unknown_location", ROW_FAULT_STREAMS),
    ("malformed_missing_column", BROKEN_CSV_STREAMS),
    ("malformed_bad_number", BROKEN_CSV_STREAMS),
    ("malformed_truncated_gzip", ("pos/sales",)),
)
POS_SNAPSHOT_KINDS = ("duplicate_file", "malformed_truncated_gzip", "malformed_bad_number")
DUPLICATED_EVENTS_PER_FILE = 3
LATE_DELAY_SLOTS = (2, 6)
OUT_OF_ORDER_OFFSET_SECONDS = 15 * 60
MISSED_RECEIPT_MARGIN = (5, 11)


@dataclass
class _Held:
    """Rows of a late slot, waiting for the later file that delivers them."""

    target: int
    slot_end: int
    table: pa.Table


@dataclass
class OutOfOrderSnapshot:
    loc: int
    label_ts: int  # the snapshot_ts it carries
    capture_ts: int  # when the simulation takes it (label_ts, or the start for a pre-start count)
    table: pa.Table | None = None
    write: Callable[[pa.Table], str] | None = None


@dataclass
class _ListingFault:
    positions: np.ndarray  # indices into channel.listed
    extra: np.ndarray
    last: tuple[int, np.ndarray, np.ndarray] | None = None  # (ts, ats, published) of the newest listing


WriteEventFile = Callable[[str, pa.Table, list[Variant]], str]


class FaultInjector:
    def __init__(
        self,
        config: SimulationConfig,
        world: World,
        clock: Clock,
        streams: list[EventStream],
        count_times: list[int],
        rng: np.random.Generator,
    ) -> None:
        self.config, self.world, self.clock, self.streams, self.rng = config, world, clock, streams, rng
        self.count_times = count_times
        self.kinds = frozenset(config.active_fault_kinds)
        self.rate = config.effective_fault_rate
        self.manifest = Manifest(world.loc_ids, world.sku_ids)
        self._pending: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        self._held: dict[str, list[_Held]] = defaultdict(list)
        self._last_written: dict[str, tuple[str, pa.Table]] = {}
        self._delivered_day: dict[str, int] = {}  # stream key -> the day of its newest file
        # (stream key, slot end) -> the file that finally delivered that slot's rows.
        self.delivered: dict[tuple[str, int], str] = {}
        self._unknown_counter = 0
        self.stale_stop: dict[int, int] = {}
        self._snapshot_faults: dict[tuple[int, int], list[str]] = defaultdict(list)
        self._out_of_order: list[OutOfOrderSnapshot] = []
        self._listing_faults: dict[int, _ListingFault] = {}
        period = self.clock.end - self.clock.start
        self._listing_from = self.clock.start + period * 3 // 4 // 900 * 900
        self._never_released = 0
        if self.kinds:
            self._plan()
        # after _plan: the records of the other kinds keep their order
        self.anomalies = AnomalyFaults(config, world, clock, self.manifest, self.kinds, self.rate)

    # --- planning ---------------------------------------------------------------------------

    def enabled(self, kind: str) -> bool:
        return kind in self.kinds

    def _count(self, n_candidates: int) -> int:
        """`rate` of the candidates, at least one."""
        if not n_candidates:
            return 0
        return min(n_candidates, max(1, round(self.rate * n_candidates)))

    def _choose(self, candidates: list[Any], n: int | None = None) -> list[Any]:
        n = self._count(len(candidates)) if n is None else min(n, len(candidates))
        picked: np.ndarray | list[int] = self.rng.choice(len(candidates), size=n, replace=False) if n else []
        return [candidates[i] for i in sorted(int(i) for i in picked)]

    def _stream_slots(self, feeds: tuple[str, ...], kind: str) -> list[tuple[str, int]]:
        out = []
        for stream in self.streams:
            if stream.feed.feed_id not in feeds and stream.feed.source not in feeds:
                continue
            slots = list(
                range(self.clock.start + stream.slot_seconds, self.clock.end + 1, stream.slot_seconds)
            )
            if kind == "duplicate_event_id":
                slots = slots[1:]  # repeats events of an earlier file
            if kind == "late_feed":
                slots = slots[: len(slots) - max(1, len(slots) // 10)]  # leaves room to arrive later
            out += [(stream.key, slot) for slot in slots]
        return out

    def _plan(self) -> None:
        for kind, feeds in EVENT_FILE_KINDS:
            if self.enabled(kind):
                for key, slot in self._choose(self._stream_slots(feeds, kind)):
                    self._pending[kind][key].append(slot)

        stores = list(range(self.world.n_dcs, self.world.n_locations))
        if self.enabled("stale_feed"):
            low, high = self.clock.start + 3600, max(self.clock.start + 3600, self.clock.end - 3600)
            for store in self._choose(stores, min(self._count(len(stores)), max(1, len(stores) // 2))):
                self.stale_stop[store] = int(self.rng.integers(low // 300, high // 300 + 1)) * 300
        live_stores = [s for s in stores if s not in self.stale_stop]

        snapshot_times = self.count_times
        files = [(store, t) for store in live_stores for t in snapshot_times]
        for kind in POS_SNAPSHOT_KINDS:
            if self.enabled(kind):
                for store, t in self._choose(files):
                    self._snapshot_faults[(store, t)].append(kind)

        if self.enabled("out_of_order_snapshot"):
            newest = snapshot_times[-1]
            for loc in self._choose(list(range(self.world.n_dcs)) + live_stores):
                if newest - self.clock.start > OUT_OF_ORDER_OFFSET_SECONDS:
                    # Between two regular counts (at :15 or :45, never on a regular instant).
                    slots = -(-(newest - self.clock.start - OUT_OF_ORDER_OFFSET_SECONDS) // 1800)
                    label = (
                        self.clock.start
                        + int(self.rng.integers(0, slots)) * 1800
                        + OUT_OF_ORDER_OFFSET_SECONDS
                    )
                    self._out_of_order.append(OutOfOrderSnapshot(loc, label, label))
                else:  # a single regular count: re-deliver one taken just before the start
                    label = self.clock.start - OUT_OF_ORDER_OFFSET_SECONDS
                    self._out_of_order.append(OutOfOrderSnapshot(loc, label, self.clock.start))

    # --- faults in the opening state --------------------------------------------------------

    def first_book_file(self) -> str:
        next_midnight = (self.clock.start // DAY_SECONDS + 1) * DAY_SECONDS
        return f"erp/book_inventory/book_inventory_{stamp(min(next_midnight, self.clock.end))}.parquet"

    def snapshot_file(self, loc: int, ts: int) -> str:
        loc_id = str(self.world.loc_ids[loc])
        if loc < self.world.n_dcs:
            return f"wms/inventory/wms_inventory_{loc_id}_{stamp(ts)}.csv"
        return f"pos/inventory/pos_inventory_{loc_id}_{stamp(ts)}.csv.gz"

    def final_transfers_file(self) -> str:
        return f"erp/transfers/transfers_{stamp(self.clock.end)}.csv"

    def apply_opening(self, stock: Stock, policy: Policy, replenishment: Replenishment) -> None:
        used: set[tuple[int, int]] = set()
        if self.enabled("count_variance"):
            self._shrink(stock, used)
        if self.enabled("negative_on_hand"):
            self._missed_receipts(stock, policy, used)
        if self.enabled("transfer_overdue"):
            self._stuck_transfers(replenishment)

    def _shrink(self, stock: Stock, used: set[tuple[int, int]]) -> None:
        """Units gone before the first count: the counts show it, the books never did."""
        active = np.flatnonzero(self.world.active)
        for loc in self._choose(list(range(self.world.n_locations))):
            candidates = active[stock.available[loc, active] >= 2]
            n = min(len(candidates), int(self.rng.integers(1, 4)))
            for sku in sorted(self.rng.choice(candidates, size=n, replace=False).tolist()):
                k = int(self.rng.integers(1, min(3, int(stock.available[loc, sku])) + 1))
                stock.available[loc, sku] -= k
                stock.book_offset[(loc, sku)] = stock.book_offset.get((loc, sku), 0) + k
                used.add((loc, sku))
                self.manifest.add(
                    "count_variance",
                    self.first_book_file(),
                    loc,
                    sku,
                    {"book_minus_physical": k, "cause": "shrink found by the count"},
                )

    def _missed_receipts(self, stock: Stock, policy: Policy, used: set[tuple[int, int]]) -> None:
        """A receipt the system (and so the books) never booked: it reports less than is there."""
        active = np.flatnonzero(self.world.active).tolist()
        for loc in self._choose(list(range(self.world.n_locations))):
            free = [s for s in active if (loc, s) not in used]
            if not free:
                continue
            sku = int(self.rng.choice(free))
            on_hand = sum(
                int(getattr(stock, b)[loc, sku])
                for b in ("available", "damaged", "quarantine", "on_hold", "returned")
            )
            # More than the location can hold by the end, so the reported stock stays negative.
            missed = max(on_hand, int(policy.order_up_to[loc, sku])) + int(
                self.rng.integers(*MISSED_RECEIPT_MARGIN)
            )
            stock.report_offset[(loc, sku)] = -missed
            stock.book_offset[(loc, sku)] = stock.book_offset.get((loc, sku), 0) - missed
            self.manifest.add(
                "negative_on_hand",
                self.snapshot_file(loc, self.clock.start),
                loc,
                sku,
                {
                    "missed_receipt_qty": missed,
                    "physical_on_hand_at_start": on_hand,
                    "system_on_hand_at_start": on_hand - missed,
                },
            )

    def _stuck_transfers(self, replenishment: Replenishment) -> None:
        """Transfers shipped two days ago, due yesterday, never received."""
        active = np.flatnonzero(self.world.active)
        shipped, expected = self.clock.start - 36 * 3600, self.clock.start - 12 * 3600
        for store in self._choose(list(range(self.world.n_dcs, self.world.n_locations))):
            n = min(len(active), int(self.rng.integers(1, 4)))
            skus = np.sort(self.rng.choice(active, size=n, replace=False))
            qty = self.rng.integers(1, 6, len(skus))
            transfer_id = f"TR-{day_stamp(shipped)}-{self.world.loc_ids[store]}-X"
            dc = self.world.region_dc(store)
            replenishment.add_transfer(
                transfer_id, dc, store, skus, qty, SHIPPED, shipped, expected, stuck=True
            )
            for sku, q in zip(skus.tolist(), qty.tolist(), strict=True):
                self.manifest.add(
                    "transfer_overdue",
                    self.final_transfers_file(),
                    store,
                    sku,
                    {
                        "transfer_id": transfer_id,
                        "qty": q,
                        "status": "shipped",
                        "shipped_at": iso(shipped),
                        "expected_at": iso(expected),
                        "from_location_id": str(self.world.loc_ids[dc]),
                    },
                )

    # --- faults while running ---------------------------------------------------------------

    def pos_feed_stopped(self, store: int, ts: int) -> bool:
        stop = self.stale_stop.get(store)
        return stop is not None and ts >= stop

    def drop_stale_sales(self, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """pos/sales rows of a stale store after its feed stopped are never delivered."""
        if not self.stale_stop or not columns:
            return columns
        stop = np.full(self.world.n_locations, np.iinfo(np.int64).max, dtype=np.int64)
        for store, ts in self.stale_stop.items():
            stop[store] = ts
        keep = columns["event_ts"] < stop[columns["location_id"]]
        return {name: values[keep] for name, values in columns.items()}

    def never_release(self, line: Any, ts: int) -> bool:
        """Whether the OMS forgets to end this reservation (the first candidate always, then `rate`)."""
        if not self.enabled("reservation_never_released"):
            return False
        if self._never_released and self.rng.random() >= self.rate:
            return False
        self._never_released += 1
        stream = next(s for s in self.streams if s.key == "oms/reservations")
        self.manifest.add(
            "reservation_never_released",
            None,
            line.node,
            line.sku,
            {
                "reservation_id": line.reservation_id,
                "order_id": line.order_id,
                "channel_id": line.channel.channel_id,
                "qty": line.qty,
                "created_at": iso(ts),
            },
            event_ref=(stream.key, stream.slot_end_of(ts, self.clock.start)),
        )
        return True

    def published_qty(self, channel: Channel, ts: int, ats: np.ndarray) -> np.ndarray:
        """What a channel publishes: its ats, inflated for a few marketplace skus late in the run."""
        if not self.enabled("listing_above_ats") or ts < self._listing_from or not len(ats):
            return ats
        has_marketplace = any(c.channel_type == "marketplace" for c in self.world.channels)
        if has_marketplace and channel.channel_type != "marketplace":
            return ats
        fault = self._listing_faults.get(channel.index)
        if fault is None:
            n = round(self.rate * len(ats))
            if not self._listing_faults and not n:
                n = 1  # at least one inflated listing per run
            positions = np.sort(self.rng.choice(len(ats), size=min(n, len(ats)), replace=False))
            fault = _ListingFault(positions, self.rng.integers(1, 6, len(positions)))
            self._listing_faults[channel.index] = fault
        published = ats.copy()
        published[fault.positions] += fault.extra
        fault.last = (ts, ats[fault.positions].copy(), published[fault.positions].copy())
        return published

    # --- event files ------------------------------------------------------------------------

    def _take(self, kind: str, key: str, slot_end: int) -> bool:
        """Consume the planned faults of this kind due at or before this slot."""
        slots = self._pending.get(kind, {}).get(key)
        if not slots or slots[0] > slot_end:
            return False
        while slots and slots[0] <= slot_end:
            slots.pop(0)
        return True

    def deliver_event_file(
        self,
        stream: EventStream,
        slot_end: int,
        table: pa.Table,
        write: WriteEventFile,
        write_empty: Callable[[], str] | None = None,
    ) -> None:
        """Write a slot's file with its faults: held back (late), extra rows, extra deliveries."""
        key = stream.key
        if table.num_rows and slot_end < self.clock.end and self._take("late_feed", key, slot_end):
            delay = int(self.rng.integers(LATE_DELAY_SLOTS[0], LATE_DELAY_SLOTS[1] + 1))
            target = min(slot_end + delay * stream.slot_seconds, self.clock.end)
            self._held[key].append(_Held(target, slot_end, table))
            return
        due = [h for h in self._held[key] if h.target <= slot_end]
        self._held[key] = [h for h in self._held[key] if h.target > slot_end]
        if due:
            table = pa.concat_tables([h.table for h in due] + [table])
        if not table.num_rows:
            # Every feed delivers every day: the day's last slot, when the day had no events, is a
            # header-only file (planned faults move on to the next file with rows).
            ends_day = slot_end % DAY_SECONDS == 0 or slot_end == self.clock.end
            day = (slot_end - 1) // DAY_SECONDS
            if write_empty is not None and ends_day and self._delivered_day.get(key) != day:
                self.delivered[(key, slot_end)] = write_empty()
                self._delivered_day[key] = day
            return
        self._delivered_day[key] = (slot_end - 1) // DAY_SECONDS
        folder = stream.folder
        name = stream.file_name(slot_end)
        relative = f"{folder}/{name}"
        for kind in ("unknown_sku", "unknown_location"):
            if self._take(kind, key, slot_end):
                table = self._add_unknown_row(kind, stream, slot_end, table, relative)
        if key in self._last_written and self._take("duplicate_event_id", key, slot_end):
            table = self._repeat_events(stream, table, relative)
        variants = []
        for kind in (
            "duplicate_file",
            "malformed_missing_column",
            "malformed_bad_number",
            "malformed_truncated_gzip",
        ):
            if self._take(kind, key, slot_end):
                suffix = RESENT_SUFFIX if kind == "duplicate_file" else BROKEN_SUFFIX[kind]
                variants.append(
                    self._variant(
                        kind,
                        folder,
                        stream.file_name(slot_end, suffix),
                        relative,
                        stream.feed.feed_id,
                        stream.fmt,
                        None,
                    )
                )
        written = write(name, table, variants)
        self.delivered[(key, slot_end)] = written
        for held in due:
            self.delivered[(key, held.slot_end)] = written
            self.manifest.add(
                "late_feed",
                written,
                None,
                None,
                {
                    "feed": stream.feed.feed_id,
                    "channel_id": stream.channel_id,
                    "rows": held.table.num_rows,
                    "events_from": iso(held.slot_end - stream.slot_seconds),
                    "events_to": iso(held.slot_end),
                    "delivered_with_slot_ending": iso(slot_end),
                    "delay_minutes": (slot_end - held.slot_end) // 60,
                },
            )
        self._last_written[key] = (written, table)

    def _add_unknown_row(
        self, kind: str, stream: EventStream, slot_end: int, table: pa.Table, relative: str
    ) -> pa.Table:
        """A copy of a real row with a sku or a location no master knows."""
        self._unknown_counter += 1
        row = table.slice(int(self.rng.integers(0, table.num_rows)), 1).to_pylist()[0]
        if kind == "unknown_sku":
            row["sku"] = f"SKU{900000 + self._unknown_counter:06d}"
        elif stream.feed.source == "wms":
            row["location_id"] = f"DC{90 + self._unknown_counter % 10}"
        else:
            row["location_id"] = f"S{9000 + self._unknown_counter % 1000:04d}"
        row["event_id"] = stream.event_ids(slot_end, 900_000 + self._unknown_counter, 1)[0]
        self.manifest.add(
            kind,
            relative,
            row["location_id"],
            row["sku"],
            {
                "event_id": row["event_id"],
                "feed": stream.feed.feed_id,
                "unknown": "sku" if kind == "unknown_sku" else "location_id",
            },
        )
        return pa.concat_tables([table, pa.Table.from_pylist([row], schema=table.schema)])

    def _repeat_events(self, stream: EventStream, table: pa.Table, relative: str) -> pa.Table:
        """The first events of the previous file, sent again with the same event ids."""
        previous_file, previous = self._last_written[stream.key]
        rows = previous.slice(0, min(DUPLICATED_EVENTS_PER_FILE, previous.num_rows))
        for row in rows.to_pylist():
            self.manifest.add(
                "duplicate_event_id",
                relative,
                row.get("location_id"),
                row.get("sku"),
                {
                    "event_id": row["event_id"],
                    "feed": stream.feed.feed_id,
                    "first_delivered_in": previous_file,
                },
            )
        return pa.concat_tables([table, rows])

    def _variant(
        self, kind: str, folder: str, name: str, relative: str, feed_id: str, fmt: str, loc: int | None
    ) -> Variant:
        if kind == "duplicate_file":
            self.manifest.add(
                kind, f"{folder}/{name}", loc, None, {"feed": feed_id, "same_bytes_as": relative}
            )
            return name, resent()
        make, details = broken(kind, feed_id, fmt)
        self.manifest.add(
            kind, f"{folder}/{name}", loc, None, {"feed": feed_id, "corrected_file": relative, **details}
        )
        return name, make

    # --- snapshot files ---------------------------------------------------------------------

    def pos_snapshot_variants(self, store: int, ts: int, folder: str, stem: str, fmt: str) -> list[Variant]:
        relative = f"{folder}/{stem}{extension(fmt)}"
        variants = []
        for kind in self._snapshot_faults.get((store, ts), []):
            suffix = RESENT_SUFFIX if kind == "duplicate_file" else BROKEN_SUFFIX[kind]
            variants.append(
                self._variant(
                    kind, folder, f"{stem}{suffix}{extension(fmt)}", relative, "pos/inventory", fmt, store
                )
            )
        return variants

    def items_variants(self, folder: str, stem: str, fmt: str) -> list[Variant]:
        if not self.enabled("malformed_wrong_encoding"):
            return []
        kind = "malformed_wrong_encoding"
        return [
            self._variant(
                kind,
                folder,
                f"{stem}{BROKEN_SUFFIX[kind]}{extension(fmt)}",
                f"{folder}/{stem}{extension(fmt)}",
                "erp/items",
                fmt,
                None,
            )
        ]

    def out_of_order_due(self, ts: int) -> list[OutOfOrderSnapshot]:
        return [o for o in self._out_of_order if o.capture_ts == ts]

    def hold_out_of_order(
        self, item: OutOfOrderSnapshot, table: pa.Table, write: Callable[[pa.Table], str]
    ) -> None:
        item.table, item.write = table, write

    def deliver_out_of_order(self) -> None:
        """Written after everything else: the older snapshot arrives last."""
        for item in self._out_of_order:
            if item.table is None or item.write is None:
                continue
            self.manifest.add(
                "out_of_order_snapshot",
                item.write(item.table),
                item.loc,
                None,
                {
                    "snapshot_ts": iso(item.label_ts),
                    "newest_snapshot_ts": iso(self.count_times[-1]),
                    "delivered": "after every other file of the run",
                },
            )

    # --- the end ----------------------------------------------------------------------------

    def finish(self, listing_file: Callable[[Channel, int], str]) -> None:
        """Records only known at the end: stale stores, inflated listings, event files' final paths."""
        for store, stop in self.stale_stop.items():
            last = max(t for t in self.count_times if t < stop)
            self.manifest.add(
                "stale_feed",
                self.snapshot_file(store, last),
                store,
                None,
                {
                    "feeds": ["pos/inventory", "pos/sales"],
                    "stopped_at": iso(stop),
                    "last_snapshot_ts": iso(last),
                },
            )
        for channel in self.world.channels:
            fault = self._listing_faults.get(channel.index)
            if fault is None or fault.last is None:
                continue
            ts, ats, published = fault.last
            for pos, a, p in zip(fault.positions.tolist(), ats.tolist(), published.tolist(), strict=True):
                self.manifest.add(
                    "listing_above_ats",
                    listing_file(channel, ts),
                    None,
                    int(channel.listed[pos]),
                    {
                        "channel_id": channel.channel_id,
                        "published_qty": p,
                        "ats": a,
                        "inflated_since": iso(self._listing_from),
                    },
                )
        self.manifest.resolve_files(self.delivered)
