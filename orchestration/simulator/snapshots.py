"""Snapshot feeds: masters and policies, till and WMS counts, listings, open lines, ERP books.

Each snapshot shows the state at its instant T, i.e. after every event with event_ts < T.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from orchestration.lib.feeds import WMS_STATUSES, Feed
from orchestration.simulator.clock import DAY_SECONDS, iso, iso_date, stamp
from orchestration.simulator.engine import SimContext
from orchestration.simulator.events import registry_feed
from orchestration.simulator.faults import OutOfOrderSnapshot
from orchestration.simulator.orders import OrderFlow
from orchestration.simulator.replenishment import TRANSFER_STATUSES, Replenishment
from orchestration.simulator.world import CATEGORIES, CURRENCY, Channel
from orchestration.simulator.writers import LandingWriter, TableBuilder, cents_to_text

LISTING_MINUTES = 15
ORDER_LINES_MINUTES = 15
ERP_OPERATIONS_MINUTES = 240
INVENTORY_GL_ACCOUNT = "140000"
LOCATIONS_PER_BATCH = 16  # rows of big snapshots are streamed this many locations at a time


def decimal_from_cents(cents: np.ndarray, precision: int = 18) -> pa.Array:
    """Exact decimal(precision, 2) from integer cents, without going through floats."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)  # two's complement high word
    return pa.Array.from_buffers(
        pa.decimal128(precision, 2), len(cents), [None, pa.py_buffer(words.tobytes())]
    )


class SnapshotWriter:
    def __init__(
        self,
        ctx: SimContext,
        writer: LandingWriter,
        builder: TableBuilder,
        orders: OrderFlow,
        replenishment: Replenishment,
    ) -> None:
        self.ctx, self.writer, self.builder = ctx, writer, builder
        self.orders, self.replenishment = orders, replenishment
        self.feeds: dict[str, Feed] = {
            name: registry_feed(*name.split("/"))
            for name in (
                "erp/items",
                "erp/locations",
                "erp/stock_policy",
                "erp/channel_policy",
                "erp/purchase_orders",
                "erp/transfers",
                "erp/book_inventory",
                "erp/gl_balances",
                "wms/inventory",
                "pos/inventory",
                "oms/order_lines",
                "channel/listings",
            )
        }
        self.count_times = set(ctx.count_times)
        self._all_skus = np.arange(ctx.world.n_skus)

    # --- the schedule -----------------------------------------------------------------------

    def at(self, ts: int) -> None:
        clock = self.ctx.clock
        if ts == clock.start:
            self.masters(ts)
        for item in self.ctx.faults.out_of_order_due(ts):
            self._capture_out_of_order(item)
        if ts in self.count_times:
            for store in self.ctx.world.store_indices.tolist():
                if not self.ctx.faults.pos_feed_stopped(store, ts):
                    self.write_pos(store, ts)
            for dc in self.ctx.world.dc_indices.tolist():
                self.write_wms(dc, ts)
        if clock.is_boundary(ts, LISTING_MINUTES):
            self.listings(ts)
        if clock.is_boundary(ts, ORDER_LINES_MINUTES):
            self.order_lines(ts)
        if clock.is_boundary(ts, ERP_OPERATIONS_MINUTES):
            self.transfers(ts)
            self.purchase_orders(ts)
        if ts > clock.start and (ts % DAY_SECONDS == 0 or ts == clock.end):
            self.books(ts)

    # --- masters and policies ---------------------------------------------------------------

    def masters(self, ts: int) -> None:
        world, faults = self.ctx.world, self.ctx.faults
        when = iso(ts)
        items = self.feeds["erp/items"]
        stem = f"items_{stamp(ts)}"
        self.writer.write(
            items,
            stem + ".csv",
            self.builder.table(
                items,
                {
                    "sku": self._all_skus,
                    "description": world.sku_description,
                    "category": [CATEGORIES[c] for c in world.sku_category.tolist()],
                    "unit_cost": cents_to_text(world.unit_cost_cents),
                    "currency": CURRENCY,
                    "status": np.where(world.active, "active", "discontinued").tolist(),
                    "snapshot_ts": when,
                },
            ),
            "csv",
            variants=faults.items_variants("erp/items", stem, "csv"),
        )

        locations = self.feeds["erp/locations"]
        locs = np.arange(world.n_locations)
        self.writer.write(
            locations,
            f"locations_{stamp(ts)}.csv",
            self.builder.table(
                locations,
                {
                    "location_id": locs,
                    "location_type": [world.location_type(i) for i in locs.tolist()],
                    "region": [world.region_names[r] for r in world.loc_region.tolist()],
                    "legal_entity": [world.legal_entity(i) for i in locs.tolist()],
                    "ships_to_customer": world.ships_to_customer,
                    "pickup_enabled": world.pickup_enabled,
                    "snapshot_ts": when,
                },
            ),
            "csv",
        )

        channel_policy = self.feeds["erp/channel_policy"]
        chans = world.channels
        self.writer.write(
            channel_policy,
            f"channel_policy_{stamp(ts)}.csv",
            self.builder.table(
                channel_policy,
                {
                    "channel_id": [c.channel_id for c in chans],
                    "channel_type": [c.channel_type for c in chans],
                    "max_share_pct": [str(c.max_share_pct) for c in chans],
                    "channel_safety_stock": np.array([c.channel_safety_stock for c in chans]),
                    "fulfillment_location_types": [";".join(c.fulfillment_location_types) for c in chans],
                    "snapshot_ts": when,
                },
            ),
            "csv",
        )

        policy = self.ctx.policy
        feed = self.feeds["erp/stock_policy"]
        with self.writer.stream(feed, f"stock_policy_{stamp(ts)}.csv.gz", "csv.gz") as out:
            for locs_batch in self._location_batches():
                out.add(
                    self.builder.table(
                        feed,
                        {
                            "location_id": np.repeat(locs_batch, world.n_skus),
                            "sku": np.tile(self._all_skus, len(locs_batch)),
                            "safety_stock": policy.safety_stock[locs_batch].ravel(),
                            "reorder_point": policy.reorder_point[locs_batch].ravel(),
                            "order_up_to": policy.order_up_to[locs_batch].ravel(),
                            "lead_time_days": policy.lead_time_days[locs_batch].ravel(),
                            "snapshot_ts": when,
                        },
                    )
                )

    def _location_batches(self) -> list[np.ndarray]:
        locs = np.arange(self.ctx.world.n_locations)
        return [locs[i : i + LOCATIONS_PER_BATCH] for i in range(0, len(locs), LOCATIONS_PER_BATCH)]

    # --- counts -----------------------------------------------------------------------------

    def pos_table(self, store: int, ts: int) -> pa.Table:
        stock = self.ctx.stock
        return self.builder.table(
            self.feeds["pos/inventory"],
            {
                "location_id": str(self.ctx.world.loc_ids[store]),
                "sku": self._all_skus,
                "on_hand": stock.reported_available(store) + stock.damaged[store],
                "damaged": stock.damaged[store],
                "snapshot_ts": iso(ts),
            },
        )

    def pos_stem(self, store: int, ts: int) -> str:
        return f"pos_inventory_{self.ctx.world.loc_ids[store]}_{stamp(ts)}"

    def write_pos(self, store: int, ts: int) -> None:
        stem = self.pos_stem(store, ts)
        variants = self.ctx.faults.pos_snapshot_variants(store, ts, "pos/inventory", stem, "csv.gz")
        self.writer.write(
            self.feeds["pos/inventory"],
            stem + ".csv.gz",
            self.pos_table(store, ts),
            "csv.gz",
            variants=variants,
        )

    def wms_table(self, dc: int, ts: int) -> pa.Table:
        stock = self.ctx.stock
        skus, statuses, qtys = [], [], []
        for status_code, status in enumerate(WMS_STATUSES):
            qty = stock.reported_available(dc) if status == "available" else getattr(stock, status)[dc]
            # Every sku has an `available` row (so the count covers it); other buckets only when used.
            present = self._all_skus if status == "available" else np.flatnonzero(qty)
            skus.append(present)
            statuses.append(np.full(len(present), status_code))
            qtys.append(np.asarray(qty)[present])
        sku, code, qty = np.concatenate(skus), np.concatenate(statuses), np.concatenate(qtys)
        order = np.lexsort((code, sku))
        return self.builder.table(
            self.feeds["wms/inventory"],
            {
                "location_id": str(self.ctx.world.loc_ids[dc]),
                "sku": sku[order],
                "status": np.array(WMS_STATUSES, dtype=object)[code[order]],
                "qty": qty[order].astype(np.int64),
                "snapshot_ts": iso(ts),
            },
        )

    def wms_name(self, dc: int, ts: int) -> str:
        return f"wms_inventory_{self.ctx.world.loc_ids[dc]}_{stamp(ts)}.csv"

    def write_wms(self, dc: int, ts: int) -> None:
        self.writer.write(self.feeds["wms/inventory"], self.wms_name(dc, ts), self.wms_table(dc, ts), "csv")

    def _capture_out_of_order(self, item: OutOfOrderSnapshot) -> None:
        loc, label = item.loc, item.label_ts
        if loc < self.ctx.world.n_dcs:
            table = self.wms_table(loc, label)
            feed, name, fmt = self.feeds["wms/inventory"], self.wms_name(loc, label), "csv"
        else:
            table = self.pos_table(loc, label)
            feed, name, fmt = self.feeds["pos/inventory"], self.pos_stem(loc, label) + ".csv.gz", "csv.gz"

        def write(tbl: pa.Table) -> str:
            return self.writer.write(feed, name, tbl, fmt)

        self.ctx.faults.hold_out_of_order(item, table, write)

    # --- channels and OMS -------------------------------------------------------------------

    def listing_file(self, channel: Channel, ts: int) -> str:
        return f"channel/{channel.channel_id}/listings/{channel.channel_id}_listings_{stamp(ts)}.csv"

    def listings(self, ts: int) -> None:
        feed = self.feeds["channel/listings"]
        for channel in self.ctx.world.channels:
            if not channel.has_feeds or not len(channel.listed):
                continue
            published = self.orders.listing(channel, ts)
            name = self.listing_file(channel, ts).rsplit("/", 1)[1]
            self.writer.write(
                feed,
                name,
                self.builder.table(
                    feed,
                    {
                        "channel_id": channel.channel_id,
                        "sku": channel.listed,
                        "published_qty": published.astype(np.int64),
                        "snapshot_ts": iso(ts),
                    },
                ),
                "csv",
                channel_id=channel.channel_id,
            )

    def order_lines(self, ts: int) -> None:
        lines = self.orders.snapshot_lines(ts)
        if not lines:  # no row could carry the snapshot_ts; nothing was ever open either
            return
        feed = self.feeds["oms/order_lines"]
        self.writer.write(
            feed,
            f"oms_order_lines_{stamp(ts)}.jsonl",
            self.builder.table(
                feed,
                {
                    "order_id": [x.order_id for x in lines],
                    "line_no": np.array([x.line_no for x in lines]),
                    "channel_id": [x.channel.channel_id for x in lines],
                    "sku": np.array([x.sku for x in lines]),
                    "location_id": np.array([x.node for x in lines]),
                    "qty_open": np.array([0 if x.closed_at >= 0 else x.qty for x in lines]),
                    "status": [x.status for x in lines],
                    "snapshot_ts": iso(ts),
                },
            ),
            "jsonl",
        )

    # --- ERP --------------------------------------------------------------------------------

    def transfers(self, ts: int) -> None:
        repl = self.replenishment
        idx = repl.open_or_recent(ts)
        if not len(idx):
            return
        t = repl.transfers
        feed = self.feeds["erp/transfers"]
        self.writer.write(
            feed,
            f"transfers_{stamp(ts)}.csv",
            self.builder.table(
                feed,
                {
                    "transfer_id": pa.array(repl.transfer_ids).take(pa.array(t["header"][idx])),
                    "sku": t["sku"][idx].astype(np.int64),
                    "from_location_id": t["from_loc"][idx].astype(np.int64),
                    "to_location_id": t["to_loc"][idx].astype(np.int64),
                    "qty": t["qty"][idx],
                    "status": np.array(TRANSFER_STATUSES, dtype=object)[t["status"][idx]],
                    "shipped_at": t["shipped_at"][idx],
                    "expected_at": t["expected_at"][idx],
                    "received_qty": t["received_qty"][idx],
                    "snapshot_ts": iso(ts),
                },
            ),
            "csv",
        )

    def purchase_orders(self, ts: int) -> None:
        repl = self.replenishment
        idx = repl.open_or_recent_purchase_lines(ts)
        if not len(idx):
            return
        pl = repl.purchase_lines
        feed = self.feeds["erp/purchase_orders"]
        self.writer.write(
            feed,
            f"purchase_orders_{stamp(ts)}.csv",
            self.builder.table(
                feed,
                {
                    "po_id": pa.array(repl.po_ids).take(pa.array(pl["header"][idx])),
                    "po_line": pl["po_line"][idx].astype(np.int64),
                    "sku": pl["sku"][idx].astype(np.int64),
                    "location_id": pl["loc"][idx].astype(np.int64),
                    "qty_open": pl["qty_open"][idx],
                    "expected_date": pl["expected_day"][idx].astype("datetime64[D]").astype(str).tolist(),
                    "unit_cost": cents_to_text(pl["unit_cost_cents"][idx]),
                    "snapshot_ts": iso(ts),
                },
            ),
            "csv",
        )

    def books(self, ts: int) -> None:
        """Book stock (parquet, typed) and the GL inventory balance per legal entity."""
        world = self.ctx.world
        as_of_date = iso_date(ts - 1) if ts % DAY_SECONDS == 0 else iso_date(ts)
        feed = self.feeds["erp/book_inventory"]
        date_value = np.datetime64(as_of_date, "D")
        balances = dict.fromkeys(world.legal_entities, 0)
        with self.writer.stream(feed, f"book_inventory_{stamp(ts)}.parquet", "parquet") as out:
            for locs in self._location_batches():
                n = len(locs) * world.n_skus
                book = self.ctx.stock.book_qty(locs)
                value = book * world.unit_cost_cents[None, :]
                for loc, total in zip(locs.tolist(), value.sum(axis=1).tolist(), strict=True):
                    balances[world.legal_entity(loc)] += int(total)
                out.add(
                    pa.table(
                        {
                            "location_id": pa.array(np.repeat(world.loc_ids[locs], world.n_skus)),
                            "sku": pa.array(np.tile(world.sku_ids, len(locs))),
                            "book_qty": pa.array(book.ravel(), pa.int64()),
                            "book_value": decimal_from_cents(value.ravel()),
                            "as_of_date": pa.array(np.full(n, date_value), pa.date32()),
                            "snapshot_ts": pa.array(
                                np.full(n, ts * 1_000_000, dtype=np.int64), pa.timestamp("us", tz="UTC")
                            ),
                        }
                    )
                )
        gl = self.feeds["erp/gl_balances"]
        entities = sorted(balances)
        self.writer.write(
            gl,
            f"gl_balances_{stamp(ts)}.csv",
            self.builder.table(
                gl,
                {
                    "legal_entity": entities,
                    "period": [as_of_date[:7]] * len(entities),
                    "gl_account": INVENTORY_GL_ACCOUNT,
                    "balance": cents_to_text([balances[e] for e in entities]),
                    "currency": CURRENCY,
                    "snapshot_ts": iso(ts),
                },
            ),
            "csv",
        )
