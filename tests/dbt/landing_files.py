"""Tiny hand-written landing files for the dbt tests, and the figures the contract gives for them.

Times are UTC (no offset). The newest timestamp of the rules scenario is 2024-05-01T10:00, so
its as_of is 2024-05-01 10:00 UTC and its first timephased day is 2024-05-01.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.simulator.truth import QUANTITY_COLUMNS

Files = dict[str, str]


def write(landing: Path, files: Files) -> None:
    """Write `files` ({relative path: CSV text}) into the landing zone the way a writer does (tmp + rename)."""
    for relative, text in files.items():
        path = landing / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text.strip() + "\n", encoding="utf-8")
        tmp.rename(path)


LOCATIONS = """
location_id,location_type,region,legal_entity,ships_to_customer,pickup_enabled,snapshot_ts
S1,store,north,LE1,false,true,2024-05-01T00:00:00
S2,store,north,LE1,true,false,2024-05-01T00:00:00
D1,dc,north,LE1,true,false,2024-05-01T00:00:00
F1,ecom_fc,north,LE1,true,false,2024-05-01T00:00:00
"""

CHANNEL_POLICY = """
channel_id,channel_type,max_share_pct,channel_safety_stock,fulfillment_location_types,snapshot_ts
WEB,web,50,1,dc;ecom_fc;store,2024-05-01T00:00:00
PICK,store,100,0,store,2024-05-01T00:00:00
MKT,marketplace,80,0,dc,2024-05-01T00:00:00
"""

# The rules scenario, delivered in two ingests (the second one brings a late, older snapshot).
RULES_BATCH_1: Files = {
    "erp/locations/locations_0501.csv": LOCATIONS,
    "erp/channel_policy/policy_0501.csv": CHANNEL_POLICY,
    "erp/stock_policy/policy_0501.csv": """
location_id,sku,safety_stock,reorder_point,order_up_to,lead_time_days,snapshot_ts
S1,A,2,5,30,3,2024-05-01T00:00:00
""",
    # Till count of S1 at 08:00.
    "pos/inventory/s1_0800.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S1,A,20,2,2024-05-01T08:00:00
S1,B,5,0,2024-05-01T08:00:00
""",
    # S2's 09:00 count arrives in two files: one snapshot.
    "pos/inventory/s2_0900_part1.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S2,A,10,0,2024-05-01T09:00:00
""",
    "pos/inventory/s2_0900_part2.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S2,C,0,0,2024-05-01T09:00:00
""",
    "pos/sales/sales_1.csv": """
event_id,location_id,sku,qty,event_ts
s1,S1,A,3,2024-05-01T07:00:00
s2,S1,A,4,2024-05-01T09:00:00
s3,S1,A,-1,2024-05-01T09:30:00
s4,S1,B,1,2024-05-01T08:00:00
""",
    # s2 delivered again (same event id): counts once.
    "pos/sales/sales_2_resend.csv": """
event_id,location_id,sku,qty,event_ts
s2,S1,A,4,2024-05-01T09:00:00
""",
    "oms/returns/returns_1.csv": """
event_id,return_id,order_id,sku,location_id,qty,status,disposition,event_ts
r1a,R1,O9,A,S1,2,initiated,,2024-05-01T08:30:00
r1b,R1,O9,A,S1,2,received,,2024-05-01T09:00:00
r2a,R2,O9,A,S1,1,received,,2024-05-01T08:40:00
r2b,R2,O9,A,S1,1,inspected,restock,2024-05-01T09:10:00
r3a,R3,O9,B,S1,1,initiated,,2024-05-01T08:50:00
""",
    "oms/reservations/reservations_1.csv": """
event_id,reservation_id,event_type,order_id,channel_id,location_id,sku,qty,expires_at,event_ts
v1a,V1,created,O1,WEB,S1,A,3,2024-05-02T00:00:00,2024-05-01T08:00:00
v2a,V2,created,O2,WEB,S1,A,2,2024-05-01T09:00:00,2024-05-01T07:00:00
v3a,V3,created,O3,WEB,S1,A,4,2024-05-02T00:00:00,2024-05-01T07:00:00
v3b,V3,released,O3,WEB,S1,A,4,2024-05-02T00:00:00,2024-05-01T08:30:00
v4a,V4,created,O4,WEB,S1,A,1,,2024-05-01T07:00:00
v5a,V5,created,O5,WEB,S2,C,5,2024-05-03T00:00:00,2024-05-01T07:00:00
""",
    "oms/order_lines/lines_1000.csv": """
order_id,line_no,channel_id,sku,location_id,qty_open,status,snapshot_ts
O1,1,WEB,A,S1,2,allocated,2024-05-01T10:00:00
O2,1,WEB,A,S1,1,picked,2024-05-01T10:00:00
O3,1,WEB,A,S1,5,shipped,2024-05-01T10:00:00
O4,1,WEB,A,S1,3,cancelled,2024-05-01T10:00:00
O5,1,MKT,A,D1,10,allocated,2024-05-01T10:00:00
""",
    "wms/inventory/d1_0600.csv": """
location_id,sku,status,qty,snapshot_ts
D1,A,available,100,2024-05-01T06:00:00
D1,A,damaged,5,2024-05-01T06:00:00
D1,A,quarantine,3,2024-05-01T06:00:00
D1,A,on_hold,2,2024-05-01T06:00:00
D1,A,returned,4,2024-05-01T06:00:00
""",
    "wms/inventory/f1_0600.csv": """
location_id,sku,status,qty,snapshot_ts
F1,A,available,5,2024-05-01T06:00:00
""",
    "wms/movements/movements_1.csv": """
event_id,location_id,sku,movement_type,qty,status,reference,event_ts
m1,D1,A,shipment,-10,available,SO1,2024-05-01T05:00:00
m2,D1,A,shipment,-20,available,SO2,2024-05-01T07:00:00
m3,D1,A,damage,1,damaged,DMG1,2024-05-01T07:30:00
m4,D1,A,damage,-1,available,DMG1,2024-05-01T07:30:00
m5,D1,A,return_receipt,3,returned,RMA1,2024-05-01T08:00:00
""",
    "erp/transfers/transfers_1000.csv": """
transfer_id,sku,from_location_id,to_location_id,qty,status,shipped_at,expected_at,received_qty,snapshot_ts
T1,A,D1,S1,10,shipped,2024-04-30T12:00:00,2024-05-03T12:00:00,4,2024-05-01T10:00:00
T2,A,D1,S2,5,approved,,2024-05-04T12:00:00,,2024-05-01T10:00:00
T3,B,D1,S1,3,received,2024-04-29T12:00:00,2024-04-30T12:00:00,3,2024-05-01T10:00:00
""",
    "erp/purchase_orders/po_1000.csv": """
po_id,po_line,sku,location_id,qty_open,expected_date,unit_cost,snapshot_ts
P1,1,A,D1,50,2024-05-05,2.50,2024-05-01T10:00:00
P1,2,B,D1,20,2024-04-28,1.00,2024-05-01T10:00:00
P2,1,A,S1,7,2024-05-20,2.50,2024-05-01T10:00:00
P3,1,C,S2,8,2024-05-02,3.00,2024-05-01T10:00:00
""",
    "channel/WEB/orders/web_1.csv": """
event_id,channel_id,order_id,sku,qty,status,event_ts
w1,WEB,OW1,A,2,accepted,2024-05-01T09:00:00
w2,WEB,OW2,A,1,accepted,2024-05-01T08:00:00
w3,WEB,OW2,A,1,allocated,2024-05-01T09:00:00
""",
    "channel/MKT/orders/mkt_1.csv": """
event_id,channel_id,order_id,sku,qty,status,event_ts
k1,MKT,OM1,A,4,accepted,2024-05-01T08:00:00
k2,MKT,OM2,A,3,accepted,2024-05-01T08:00:00
k3,MKT,OM2,A,3,cancelled,2024-05-01T09:00:00
""",
}

RULES_BATCH_2: Files = {
    # Older than the 08:00 count already loaded: must change nothing (E must not become a position).
    "pos/inventory/s1_0600_late.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S1,A,99,0,2024-05-01T06:00:00
S1,E,50,0,2024-05-01T06:00:00
""",
}

RULES_AS_OF = "2024-05-01 10:00:00+00"

# inventory_position figures the contract gives for the rules scenario (docs in test_contract_rules.py).
POSITION_COLUMNS = (*QUANTITY_COLUMNS, "atp", "shortfall")
# fmt: off
EXPECTED_POSITIONS: dict[tuple[str, str], tuple[int, ...]] = {
    #            on_hand dmg quar ret avail res com in  out ord ss atp short
    ("S1", "A"): (19, 2, 0, 2, 15, 4, 3, 6, 0, 7, 2, 6, 0),
    ("S1", "B"): (5, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 5, 0),
    ("S2", "A"): (10, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 10, 0),
    ("S2", "C"): (0, 0, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 5),
    ("D1", "A"): (97, 6, 5, 7, 79, 0, 10, 0, 6, 50, 0, 69, 0),
    ("D1", "B"): (0, 0, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0),
    ("F1", "A"): (5, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 5, 0),
}
# fmt: on


# Micro-batches delivered after RULES_BATCH_1, one build each (test_incremental.py). Each says
# which keys it must touch.
MICRO_BATCHES: list[Files] = [
    # 1: one till sale at S1/A and one marketplace order: as_of 10:05.
    {
        "pos/sales/sales_1005.csv": """
event_id,location_id,sku,qty,event_ts
s5,S1,A,1,2024-05-01T10:05:00
""",
        "channel/MKT/orders/mkt_1005.csv": """
event_id,channel_id,order_id,sku,qty,status,event_ts
k4,MKT,OM3,A,2,accepted,2024-05-01T10:05:00
""",
    },
    # 2: S2 counts again and no longer lists C; order line O1 ships; a short reservation at S1/B.
    {
        "pos/inventory/s2_1010.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S2,A,8,0,2024-05-01T10:10:00
""",
        "oms/order_lines/lines_1010.csv": """
order_id,line_no,channel_id,sku,location_id,qty_open,status,snapshot_ts
O1,1,WEB,A,S1,2,shipped,2024-05-01T10:10:00
O2,1,WEB,A,S1,1,picked,2024-05-01T10:10:00
O5,1,MKT,A,D1,10,allocated,2024-05-01T10:10:00
""",
        "oms/reservations/reservations_1010.csv": """
event_id,reservation_id,event_type,order_id,channel_id,location_id,sku,qty,expires_at,event_ts
v6a,V6,created,O6,WEB,S1,B,2,2024-05-01T10:20:00,2024-05-01T10:10:00
""",
    },
    # 3: a warehouse movement moves as_of to 10:30, past V6's expiry (S1/B changes by as_of
    # alone); T1 is received; WEB's share drops; S2 becomes pickup-enabled.
    {
        "wms/movements/movements_1030.csv": """
event_id,location_id,sku,movement_type,qty,status,reference,event_ts
m6,D1,A,shipment,-5,available,SO3,2024-05-01T10:30:00
""",
        "erp/transfers/transfers_1030.csv": """
transfer_id,sku,from_location_id,to_location_id,qty,status,shipped_at,expected_at,received_qty,snapshot_ts
T1,A,D1,S1,10,received,2024-04-30T12:00:00,2024-05-03T12:00:00,10,2024-05-01T10:30:00
T2,A,D1,S2,5,approved,,2024-05-04T12:00:00,,2024-05-01T10:30:00
""",
        "erp/channel_policy/policy_1030.csv": """
channel_id,channel_type,max_share_pct,channel_safety_stock,fulfillment_location_types,snapshot_ts
WEB,web,40,1,dc;ecom_fc;store,2024-05-01T10:30:00
PICK,store,100,0,store,2024-05-01T10:30:00
MKT,marketplace,80,0,dc,2024-05-01T10:30:00
""",
        "erp/locations/locations_1030.csv": """
location_id,location_type,region,legal_entity,ships_to_customer,pickup_enabled,snapshot_ts
S1,store,north,LE1,false,true,2024-05-01T10:30:00
S2,store,north,LE1,true,true,2024-05-01T10:30:00
D1,dc,north,LE1,true,false,2024-05-01T10:30:00
F1,ecom_fc,north,LE1,true,false,2024-05-01T10:30:00
""",
    },
    # 4: an older S2 count delivered late: changes nothing.
    {
        "pos/inventory/s2_0700_late.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S2,A,99,0,2024-05-01T07:00:00
S2,Z,99,0,2024-05-01T07:00:00
""",
    },
    # 5: a sale after midnight: as_of's date moves to 2024-05-02 (timephased days shift).
    {
        "pos/sales/sales_0201.csv": """
event_id,location_id,sku,qty,event_ts
s6,S2,A,1,2024-05-02T01:00:00
""",
    },
]
