"""The feed registry: one declarative entry per landing-zone feed.

Everything that touches a feed reads it from here: the loader (raw table DDL, required
columns, types), the dbt sources file, the Great Expectations suites, the simulator, the docs
and the tests. Adding a feed is adding one `Feed(...)` to `FEEDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "integer", "numeric", "boolean", "timestamptz", "date"]
FeedKind = Literal["snapshot", "event"]

# Types whose values must be non-empty unless the column is optional (contract section 5: key,
# quantity, cost and timestamp columns); text and boolean columns may be empty unless a key.
VALUE_REQUIRED_TYPES = frozenset({"integer", "numeric", "timestamptz", "date"})
# The largest magnitude a numeric column takes unless it says otherwise: a value beyond it (1e30,
# NaN, Infinity) would overflow the marts' numeric(18, 2..4) figures, so the file is quarantined.
NUMERIC_MAX_ABS = 10**12


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    # A required column must be present in every file's header; its absence quarantines the file.
    required: bool = True
    # Values allowed for categorical columns (checked by the quality suites, not at load).
    allowed: tuple[str, ...] | None = None
    # Quantities the contract says can never be negative (checked by the quality suites).
    non_negative: bool = False
    # Whether a value may be empty. None: by the contract's rule (VALUE_REQUIRED_TYPES must be
    # non-empty when the column is required in the header; a header-optional column is optional).
    optional: bool | None = None
    # numeric columns: the largest magnitude accepted (NUMERIC_MAX_ABS when None).
    max_abs: int | None = None

    @property
    def value_required(self) -> bool:
        """An empty value (CSV cell, JSON null) quarantines the file."""
        if self.optional is not None:
            return not self.optional
        return self.required and self.type in VALUE_REQUIRED_TYPES

    @property
    def value_limit(self) -> int | None:
        """The largest magnitude of a numeric column (None: the type's own range)."""
        if self.type != "numeric":
            return None
        return self.max_abs if self.max_abs is not None else NUMERIC_MAX_ABS


@dataclass(frozen=True)
class Feed:
    source: str
    name: str
    kind: FeedKind
    description: str
    columns: tuple[Column, ...]
    # Business key: unique within one snapshot of a scope (snapshot feeds) or the event id.
    key: tuple[str, ...]
    # Scope of a snapshot: () = the whole feed, else the columns one snapshot covers.
    scope: tuple[str, ...] = ()
    # Freshness SLA of the feed in minutes (STALE_FEED, GX freshness checks).
    sla_minutes: int = 24 * 60
    # Channel feeds sit one folder deeper: channel/<channel_id>/<feed>/<file>.
    path_scope: str | None = None
    owner_team: str = "integration"
    extra_not_null: tuple[str, ...] = field(default_factory=tuple)

    @property
    def feed_id(self) -> str:
        """`<source>/<feed>` as written in the contract (channel feeds without the channel)."""
        return f"{self.source}/{self.name}"

    @property
    def raw_table(self) -> str:
        """Table name inside the `raw` schema."""
        return f"{self.source}__{self.name}"

    @property
    def time_column(self) -> str:
        return "snapshot_ts" if self.kind == "snapshot" else "event_ts"

    @property
    def not_null_columns(self) -> tuple[str, ...]:
        """Columns whose empty value makes a row unusable: the key, the scope and the clock."""
        ordered = dict.fromkeys((*self.key, *self.scope, self.time_column, *self.extra_not_null))
        return tuple(ordered)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def required_value_columns(self) -> tuple[str, ...]:
        """Columns whose empty value quarantines the file: not_null_columns, then every column
        whose value the contract requires (key, quantity, cost, date and time columns that are
        not optional)."""
        ordered = dict.fromkeys((*self.not_null_columns, *(c.name for c in self.columns if c.value_required)))
        return tuple(ordered)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"feed {self.feed_id} has no column {name!r}")


LOCATION_TYPES = ("store", "dc", "ecom_fc")
WMS_STATUSES = ("available", "damaged", "quarantine", "returned", "on_hold")


def _ts(name: str, description: str, required: bool = True) -> Column:
    return Column(name, "timestamptz", description, required=required)


SNAPSHOT_TS = _ts("snapshot_ts", "When the source system took this snapshot (ISO 8601; UTC if no offset).")
EVENT_TS = _ts("event_ts", "When the event happened in the source system (ISO 8601; UTC if no offset).")
SKU = Column("sku", "text", "Stock keeping unit identifier, as in the ERP item master.")
LOCATION = Column("location_id", "text", "Location identifier, as in the ERP location master.")
EVENT_ID = Column("event_id", "text", "Unique id of the event; a repeated id counts once.")
CHANNEL = Column("channel_id", "text", "Sales channel identifier, as in the ERP channel policy.")


def _qty(name: str, description: str, *, required: bool = True, non_negative: bool = True) -> Column:
    return Column(name, "integer", description, required=required, non_negative=non_negative)


def _money(name: str, description: str, max_abs: int | None = None) -> Column:
    return Column(name, "numeric", description, non_negative=True, max_abs=max_abs)


# A unit cost times any integer quantity stays within the marts' numeric(18, 2) values.
UNIT_COST_MAX = 10**6


FEEDS: tuple[Feed, ...] = (
    Feed(
        "erp",
        "items",
        "snapshot",
        "Item master: every sku the retailer sells, with its unit cost.",
        (
            SKU,
            Column("description", "text", "Item description.", required=False),
            Column("category", "text", "Merchandise category.", required=False),
            _money("unit_cost", "Standard unit cost used for valuation.", UNIT_COST_MAX),
            Column("currency", "text", "ISO 4217 currency of unit_cost."),
            Column("status", "text", "Lifecycle status.", allowed=("active", "discontinued")),
            SNAPSHOT_TS,
        ),
        key=("sku",),
        owner_team="integration",
    ),
    Feed(
        "erp",
        "locations",
        "snapshot",
        "Location master: stores, distribution centres, e-commerce FCs.",
        (
            LOCATION,
            Column("location_type", "text", "Kind of location.", allowed=LOCATION_TYPES),
            Column("region", "text", "Replenishment region; donors are searched within it."),
            Column("legal_entity", "text", "Legal entity that owns the stock at this location."),
            Column("ships_to_customer", "boolean", "Whether the location can ship orders to customers."),
            Column("pickup_enabled", "boolean", "Whether customers can pick up orders here."),
            SNAPSHOT_TS,
        ),
        key=("location_id",),
        owner_team="integration",
    ),
    Feed(
        "erp",
        "stock_policy",
        "snapshot",
        "Replenishment policy per location and sku.",
        (
            LOCATION,
            SKU,
            _qty("safety_stock", "Units held back from availability."),
            _qty("reorder_point", "Position below which the location is replenished."),
            _qty("order_up_to", "Position replenishment brings the location back to."),
            _qty("lead_time_days", "Supplier lead time in days."),
            SNAPSHOT_TS,
        ),
        key=("location_id", "sku"),
        owner_team="store_operations",
    ),
    Feed(
        "erp",
        "channel_policy",
        "snapshot",
        "Allocation policy per sales channel.",
        (
            CHANNEL,
            Column("channel_type", "text", "Kind of channel.", allowed=("web", "marketplace", "store")),
            Column(
                "max_share_pct",
                "numeric",
                "Share (0-100) of the eligible pool the channel may sell.",
                non_negative=True,
            ),
            _qty("channel_safety_stock", "Units held back from the channel's available-to-sell."),
            Column(
                "fulfillment_location_types",
                "text",
                "Location types (`;`-separated) whose stock the channel may sell.",
            ),
            SNAPSHOT_TS,
        ),
        key=("channel_id",),
        owner_team="ecommerce",
    ),
    Feed(
        "erp",
        "purchase_orders",
        "snapshot",
        "Open purchase order lines.",
        (
            Column("po_id", "text", "Purchase order number."),
            _qty("po_line", "Line number within the purchase order."),
            SKU,
            LOCATION,
            _qty("qty_open", "Units still expected on the line."),
            Column("expected_date", "date", "Date the open units are expected at the location."),
            _money("unit_cost", "Purchase unit cost.", UNIT_COST_MAX),
            SNAPSHOT_TS,
        ),
        key=("po_id", "po_line"),
        owner_team="integration",
    ),
    Feed(
        "erp",
        "transfers",
        "snapshot",
        "Open and recent stock transfers between locations.",
        (
            Column("transfer_id", "text", "Transfer identifier."),
            SKU,
            Column("from_location_id", "text", "Location the stock leaves."),
            Column("to_location_id", "text", "Location the stock goes to."),
            _qty("qty", "Units transferred."),
            Column(
                "status",
                "text",
                "Transfer status.",
                allowed=("requested", "approved", "shipped", "received", "cancelled"),
            ),
            _ts("shipped_at", "When the transfer left the origin.", required=False),
            _ts("expected_at", "When the transfer is expected at the destination.", required=False),
            _qty("received_qty", "Units received so far at the destination.", required=False),
            SNAPSHOT_TS,
        ),
        key=("transfer_id", "sku"),
        owner_team="dc_operations",
    ),
    Feed(
        "erp",
        "book_inventory",
        "snapshot",
        "ERP book stock and value per location and sku.",
        (
            LOCATION,
            SKU,
            _qty("book_qty", "Units on the books.", non_negative=False),
            # informational: finance values stock at the item master's unit_cost
            Column("book_value", "numeric", "Value on the books.", optional=True),
            Column("as_of_date", "date", "Business date the book figures are for."),
            SNAPSHOT_TS,
        ),
        key=("location_id", "sku"),
        owner_team="finance",
    ),
    Feed(
        "erp",
        "gl_balances",
        "snapshot",
        "General-ledger inventory balances per legal entity and period.",
        (
            Column("legal_entity", "text", "Legal entity."),
            Column("period", "text", "Accounting period, YYYY-MM."),
            Column("gl_account", "text", "General-ledger account."),
            Column("balance", "numeric", "Account balance."),
            Column("currency", "text", "ISO 4217 currency of the balance."),
            SNAPSHOT_TS,
        ),
        key=("legal_entity", "period", "gl_account"),
        owner_team="finance",
    ),
    Feed(
        "wms",
        "inventory",
        "snapshot",
        "Warehouse stock per status bucket, one snapshot per location.",
        (
            LOCATION,
            SKU,
            Column("status", "text", "Stock status bucket.", allowed=WMS_STATUSES),
            _qty("qty", "Units in the bucket.", non_negative=False),
            SNAPSHOT_TS,
        ),
        key=("location_id", "sku", "status"),
        scope=("location_id",),
        sla_minutes=15,
        owner_team="dc_operations",
    ),
    Feed(
        "wms",
        "movements",
        "event",
        "Warehouse stock movements; qty is the signed change of the bucket.",
        (
            EVENT_ID,
            LOCATION,
            SKU,
            Column(
                "movement_type",
                "text",
                "Kind of movement.",
                allowed=(
                    "receipt",
                    "shipment",
                    "adjustment",
                    "damage",
                    "return_receipt",
                    "transfer_in",
                    "transfer_out",
                ),
            ),
            _qty("qty", "Signed change of the status bucket.", non_negative=False),
            Column("status", "text", "Status bucket the movement changes.", allowed=WMS_STATUSES),
            Column("reference", "text", "Source document reference.", required=False),
            EVENT_TS,
        ),
        key=("event_id",),
        sla_minutes=15,
        owner_team="dc_operations",
    ),
    Feed(
        "pos",
        "inventory",
        "snapshot",
        "Store till stock counts, one snapshot per store.",
        (
            LOCATION,
            SKU,
            _qty("on_hand", "Units the till counts on hand.", non_negative=False),
            _qty("damaged", "Units of on_hand marked damaged."),
            SNAPSHOT_TS,
        ),
        key=("location_id", "sku"),
        scope=("location_id",),
        sla_minutes=30,
        owner_team="store_operations",
    ),
    Feed(
        "pos",
        "sales",
        "event",
        "Till sales; negative qty is a return at the till.",
        (
            EVENT_ID,
            LOCATION,
            SKU,
            _qty("qty", "Units sold (negative = returned).", non_negative=False),
            EVENT_TS,
        ),
        key=("event_id",),
        sla_minutes=30,
        owner_team="store_operations",
    ),
    Feed(
        "oms",
        "reservations",
        "event",
        "Order management reservations of stock for orders.",
        (
            EVENT_ID,
            Column("reservation_id", "text", "Reservation identifier."),
            Column(
                "event_type",
                "text",
                "Lifecycle event.",
                allowed=("created", "released", "fulfilled", "expired"),
            ),
            Column("order_id", "text", "Order the reservation is for.", required=False),
            Column("channel_id", "text", "Channel of the order.", required=False),
            LOCATION,
            SKU,
            _qty("qty", "Units reserved."),
            _ts("expires_at", "When the reservation lapses if not fulfilled.", required=False),
            EVENT_TS,
        ),
        key=("event_id",),
        sla_minutes=5,
        owner_team="ecommerce",
        extra_not_null=("reservation_id",),
    ),
    Feed(
        "oms",
        "order_lines",
        "snapshot",
        "Open order lines and their fulfilment status.",
        (
            Column("order_id", "text", "Order identifier."),
            _qty("line_no", "Line number within the order."),
            CHANNEL,
            SKU,
            LOCATION,
            _qty("qty_open", "Units still to ship."),
            Column("status", "text", "Line status.", allowed=("allocated", "picked", "shipped", "cancelled")),
            SNAPSHOT_TS,
        ),
        key=("order_id", "line_no"),
        sla_minutes=5,
        owner_team="ecommerce",
    ),
    Feed(
        "oms",
        "returns",
        "event",
        "Customer returns moving through receipt and inspection.",
        (
            EVENT_ID,
            Column("return_id", "text", "Return identifier."),
            Column("order_id", "text", "Original order.", required=False),
            SKU,
            LOCATION,
            _qty("qty", "Units returned."),
            Column("status", "text", "Return status.", allowed=("initiated", "received", "inspected")),
            Column(
                "disposition",
                "text",
                "Inspection outcome.",
                required=False,
                allowed=("restock", "damaged", "quarantine"),
            ),
            EVENT_TS,
        ),
        key=("event_id",),
        sla_minutes=5,
        owner_team="ecommerce",
        extra_not_null=("return_id",),
    ),
    Feed(
        "channel",
        "orders",
        "event",
        "Marketplace and web-shop orders as the channel reports them.",
        (
            EVENT_ID,
            CHANNEL,
            Column("order_id", "text", "Channel order identifier."),
            SKU,
            _qty("qty", "Units ordered."),
            Column("status", "text", "Channel order status.", allowed=("accepted", "allocated", "cancelled")),
            EVENT_TS,
        ),
        key=("event_id",),
        sla_minutes=15,
        path_scope="channel_id",
        owner_team="ecommerce",
        extra_not_null=("channel_id", "order_id"),
    ),
    Feed(
        "channel",
        "listings",
        "snapshot",
        "Quantities each channel currently publishes per sku.",
        (CHANNEL, SKU, _qty("published_qty", "Units the channel shows as sellable."), SNAPSHOT_TS),
        key=("channel_id", "sku"),
        scope=("channel_id",),
        sla_minutes=15,
        path_scope="channel_id",
        owner_team="ecommerce",
    ),
)

FEEDS_BY_ID: dict[str, Feed] = {feed.feed_id: feed for feed in FEEDS}
SOURCES: tuple[str, ...] = tuple(dict.fromkeys(feed.source for feed in FEEDS))


def feeds_of(source: str) -> tuple[Feed, ...]:
    return tuple(feed for feed in FEEDS if feed.source == source)


def get_feed(source: str, name: str) -> Feed | None:
    return FEEDS_BY_ID.get(f"{source}/{name}")
