"""A small retailer over 14 days with three planted anomalies (and nothing else unusual):
- WEB orders 40 units of sku A on the last day, against 2-4 a day before (DEMAND_SPIKE);
- store S1's book stands above its count for 3 skus on 4 of the last 5 days (RECURRING_COUNT_VARIANCE);
- warehouse D1 damages 60 and shrinks 30 units on the last day, against 1-2 before (MOVEMENT_ANOMALY).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.dbt.landing_files import Files

START = datetime(2024, 5, 1, tzinfo=UTC)
DAYS = 14
LAST_DAY = START + timedelta(days=DAYS - 1)
AS_OF = LAST_DAY + timedelta(hours=20)
SKUS = ("A", "B", "C", "D", "E", "F")
STORES = ("S1", "S2", "S3", "S4")
DCS = ("D1", "D2", "D3")


def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows])


def masters() -> Files:
    t0 = _iso(START)
    return {
        "erp/items/items.csv": _csv(
            "sku,description,category,unit_cost,currency,status,snapshot_ts",
            [f"{s},item {s},cat,{10 + i}.00,EUR,active,{t0}" for i, s in enumerate(SKUS)],
        ),
        "erp/locations/locations.csv": _csv(
            "location_id,location_type,region,legal_entity,ships_to_customer,pickup_enabled,snapshot_ts",
            [f"{s},store,north,LE1,false,true,{t0}" for s in STORES]
            + [f"{d},dc,north,LE1,true,false,{t0}" for d in DCS],
        ),
        "erp/channel_policy/policy.csv": _csv(
            "channel_id,channel_type,max_share_pct,channel_safety_stock,fulfillment_location_types,snapshot_ts",
            [f"WEB,web,60,2,dc;store,{t0}", f"MKT,marketplace,40,1,dc,{t0}"],
        ),
    }


def orders() -> Files:
    rows = []
    for day in range(DAYS):
        ts = START + timedelta(days=day, hours=12)
        for channel in ("WEB", "MKT"):
            for i, sku in enumerate(SKUS):
                qty = 40 if (day == DAYS - 1 and channel == "WEB" and sku == "A") else 2 + (day + i) % 3
                rows.append(
                    f"o{channel}{day}{sku},{channel},ord{channel}{day}{sku},{sku},{qty},accepted,{_iso(ts)}"
                )
    return {"channel/WEB/orders/orders.csv": _csv(
        "event_id,channel_id,order_id,sku,qty,status,event_ts", [r for r in rows if ",WEB," in r]
    ), "channel/MKT/orders/orders.csv": _csv(
        "event_id,channel_id,order_id,sku,qty,status,event_ts", [r for r in rows if ",MKT," in r]
    )}  # fmt: skip


def books_and_counts() -> Files:
    files: Files = {}
    for day in range(DAYS - 5, DAYS):
        date = (START + timedelta(days=day)).date()
        ts = _iso(START + timedelta(days=day, hours=18))
        books, counts = [], []
        for store in STORES:
            for i, sku in enumerate(SKUS[:4]):
                physical = 20 + i
                drift = 3 if (store == "S1" and day != DAYS - 3 and i < 3) else 0
                books.append(f"{store},{sku},{physical + drift},{(physical + drift) * 10}.00,{date},{ts}")
                counts.append(f"{store},{sku},{physical},0,{ts}")
        files[f"erp/book_inventory/book_{date}.csv"] = _csv(
            "location_id,sku,book_qty,book_value,as_of_date,snapshot_ts", books
        )
        for store in STORES:
            files[f"pos/inventory/{store}_{date}.csv"] = _csv(
                "location_id,sku,on_hand,damaged,snapshot_ts",
                [c for c in counts if c.startswith(f"{store},")],
            )
    return files


def movements() -> Files:
    rows = []
    for day in range(DAYS):
        ts = _iso(START + timedelta(days=day, hours=10))
        for dc in DCS:
            if day == DAYS - 1 and dc == "D1":
                rows += [
                    f"m{dc}{day}d,{dc},A,damage,-60,damaged,r1,{ts}",
                    f"m{dc}{day}a,{dc},B,adjustment,-30,available,r2,{ts}",
                ]
            else:
                rows.append(f"m{dc}{day}a,{dc},C,adjustment,-{1 + day % 2},available,r,{ts}")
    return {"wms/movements/movements.csv": _csv(
        "event_id,location_id,sku,movement_type,qty,status,reference,event_ts", rows
    )}  # fmt: skip


def world() -> Files:
    return {**masters(), **orders(), **books_and_counts(), **movements()}
