"""The inventory ledger, the recommendation history and the ops marts on a hand-written retailer.

Three runs in Dagster's order (tests/marts/test_replenishment_finance.Pipeline): BATCH_1, BATCH_2,
then a run without new files. North region: DC D1 and store S1 (legal entity LE1), store S2 (LE2).

Batch 1 (as_of 09:40). S1 counts A 20, B 5 at 08:00, sells 3 A, takes 1 A back at the till and sells
1 B after it (and 2 A before it); return R1 (2 A) is received at 09:30 and awaits inspection,
return R2 (1 B) was received before the count and is inspected (restock) at 09:40: on_hand A 20,
B 4. D1's 08:00 snapshot (A 50, B 20) moves: receipt +10 A, shipment -3 A, damage (available -1,
damaged +1), write-off of the damaged unit, return receipt +2 B (restock), transfer_out -4 A (T1 to
S2, another legal entity) and -5 B (T2 to S1): A 52, B 17. The books say S1/A 18: a COUNT_VARIANCE.
Batch 2 (as_of 10:10): B costs 12.00 instead of 10.00, S1 sells one more B, S2 counts 10 A, T1
arrives with 3 of its 4 units, and the books agree with the shelves.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.dbt_runner import DbtCommandError
from tests.dbt.landing_files import Files
from tests.support.dbt import deliver, query
from tests.support.marts import Pipeline

BATCH_1: Files = {
    "erp/locations/locations.csv": """
location_id,location_type,region,legal_entity,ships_to_customer,pickup_enabled,snapshot_ts
D1,dc,north,LE1,true,false,2024-05-01T00:00:00
S1,store,north,LE1,false,true,2024-05-01T00:00:00
S2,store,north,LE2,false,true,2024-05-01T00:00:00
""",
    "erp/items/items.csv": """
sku,description,category,unit_cost,currency,status,snapshot_ts
A,Item A,toys,2.50,EUR,active,2024-05-01T00:00:00
B,Item B,toys,10.00,EUR,active,2024-05-01T00:00:00
""",
    "erp/stock_policy/policy.csv": """
location_id,sku,safety_stock,reorder_point,order_up_to,lead_time_days,snapshot_ts
S1,A,0,20,30,3,2024-05-01T00:00:00
S1,B,0,5,10,3,2024-05-01T00:00:00
S2,A,0,8,15,3,2024-05-01T00:00:00
D1,A,0,5,50,7,2024-05-01T00:00:00
""",
    "pos/inventory/s1.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S1,A,20,0,2024-05-01T08:00:00
S1,B,5,0,2024-05-01T08:00:00
""",
    "pos/inventory/s2.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S2,A,3,0,2024-05-01T08:00:00
""",
    "pos/sales/sales.csv": """
event_id,location_id,sku,qty,event_ts
s0,S1,A,2,2024-05-01T07:00:00
s1,S1,A,3,2024-05-01T09:00:00
s2,S1,A,-1,2024-05-01T09:10:00
s3,S1,B,1,2024-05-01T09:20:00
""",
    "oms/returns/returns.csv": """
event_id,return_id,order_id,sku,location_id,qty,status,disposition,event_ts
rt1,R1,O9,A,S1,2,initiated,,2024-05-01T08:30:00
rt2,R1,O9,A,S1,2,received,,2024-05-01T09:30:00
rt3,R2,O8,B,S1,1,received,,2024-05-01T07:30:00
rt4,R2,O8,B,S1,1,inspected,restock,2024-05-01T09:40:00
""",
    "wms/inventory/d1.csv": """
location_id,sku,status,qty,snapshot_ts
D1,A,available,50,2024-05-01T08:00:00
D1,B,available,20,2024-05-01T08:00:00
""",
    "wms/movements/moves.csv": """
event_id,location_id,sku,movement_type,qty,status,reference,event_ts
m0,D1,A,receipt,7,available,PO0,2024-05-01T07:00:00
m1,D1,A,receipt,10,available,PO1,2024-05-01T08:30:00
m2,D1,A,shipment,-3,available,O1,2024-05-01T08:40:00
m3,D1,A,damage,-1,available,,2024-05-01T08:50:00
m4,D1,A,damage,1,damaged,,2024-05-01T08:50:00
m5,D1,A,adjustment,-1,damaged,,2024-05-01T09:00:00
m6,D1,B,return_receipt,2,available,R7,2024-05-01T09:05:00
m7,D1,A,transfer_out,-4,available,T1,2024-05-01T09:10:00
m8,D1,B,transfer_out,-5,available,T2,2024-05-01T09:15:00
""",
    "erp/transfers/transfers.csv": """
transfer_id,sku,from_location_id,to_location_id,qty,status,shipped_at,expected_at,received_qty,snapshot_ts
T1,A,D1,S2,4,shipped,2024-05-01T09:10:00,2024-05-02T00:00:00,0,2024-05-01T09:30:00
T2,B,D1,S1,5,received,2024-05-01T09:15:00,2024-05-01T12:00:00,5,2024-05-01T09:30:00
""",
    "erp/book_inventory/book.csv": """
location_id,sku,book_qty,book_value,as_of_date,snapshot_ts
S1,A,18,45.00,2024-05-01,2024-05-01T09:30:00
S1,B,4,40.00,2024-05-01,2024-05-01T09:30:00
S2,A,3,7.50,2024-05-01,2024-05-01T09:30:00
D1,A,52,130.00,2024-05-01,2024-05-01T09:30:00
D1,B,17,170.00,2024-05-01,2024-05-01T09:30:00
""",
    "erp/channel_policy/channels.csv": """
channel_id,channel_type,max_share_pct,channel_safety_stock,fulfillment_location_types,snapshot_ts
WEB,web,100,0,dc,2024-05-01T00:00:00
""",
    # D1's atp: A 52, B 17. WEB publishes 60 A (8 too many) and exactly 17 B.
    "channel/WEB/listings/web.csv": """
channel_id,sku,published_qty,snapshot_ts
WEB,A,60,2024-05-01T09:00:00
WEB,B,17,2024-05-01T09:00:00
""",
}

BATCH_2: Files = {
    "erp/items/items_2.csv": BATCH_1["erp/items/items.csv"]
    .replace("B,Item B,toys,10.00", "B,Item B,toys,12.00")
    .replace("2024-05-01T00:00:00", "2024-05-01T10:00:00"),
    "pos/sales/sales_2.csv": """
event_id,location_id,sku,qty,event_ts
s4,S1,B,1,2024-05-01T10:10:00
""",
    "pos/inventory/s2_2.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S2,A,10,0,2024-05-01T10:00:00
""",
    "erp/transfers/transfers_2.csv": """
transfer_id,sku,from_location_id,to_location_id,qty,status,shipped_at,expected_at,received_qty,snapshot_ts
T1,A,D1,S2,4,received,2024-05-01T09:10:00,2024-05-02T00:00:00,3,2024-05-01T10:00:00
T2,B,D1,S1,5,received,2024-05-01T09:15:00,2024-05-01T12:00:00,5,2024-05-01T10:00:00
""",
    "erp/book_inventory/book_2.csv": """
location_id,sku,book_qty,book_value,as_of_date,snapshot_ts
S1,A,20,50.00,2024-05-01,2024-05-01T10:00:00
S1,B,3,36.00,2024-05-01,2024-05-01T10:00:00
S2,A,10,25.00,2024-05-01,2024-05-01T10:00:00
D1,A,52,130.00,2024-05-01,2024-05-01T10:00:00
D1,B,17,204.00,2024-05-01,2024-05-01T10:00:00
""",
}

LEDGER_COLUMNS = (
    "ledger_entry_id, movement_id, entry_type, movement_type, account, location_id, sku, legal_entity,"
    " counterparty_location_id, counterparty_legal_entity, is_intercompany, stock_status, disposition,"
    " source_feed, source_reference, event_ts, qty, unit_cost, value, posted_at, posted_run_seq"
)


@dataclass
class State:
    ledger: list[tuple]
    history: list[tuple]
    latency: dict[str, tuple]
    backlog: dict[tuple[str, str], tuple]
    cycles: dict[str, tuple]
    allocation: list[tuple]


def state(url: str) -> State:
    return State(
        ledger=query(url, f"select {LEDGER_COLUMNS} from finance.inventory_ledger order by ledger_entry_id"),
        history=query(
            url,
            "select run_seq, recommendation_type, location_id, from_location_id, sku, change_type, qty, previous_qty,"
            " status from replenishment.recommendation_history order by run_seq, recommendation_key",
        ),
        latency={
            r[0]: r[1:]
            for r in query(
                url,
                "select feed, files_loaded, files_quarantined, files_duplicate, p95_data_to_loaded_minutes,"
                " max_loaded_to_built_minutes, last_built_at from ops.feed_latency",
            )
        },
        backlog={
            (r[0], r[1]): r[2:]
            for r in query(
                url,
                "select exception_type, owner_team, open_exceptions, open_blocking_exceptions,"
                " resolved_exceptions, max_open_age_hours from ops.exception_backlog",
            )
        },
        cycles={
            r[0]: r[1:]
            for r in query(
                url,
                "select exception_type, resolved_cycles, avg_cycle_hours, open_cycles"
                " from ops.reconciliation_cycle_time",
            )
        },
        allocation=query(
            url,
            "select channel_id, listings, accurate_listings, under_published_listings, oversold_listings,"
            " oversold_units, oversell_rate from ops.allocation_accuracy",
        ),
    )


@pytest.fixture(scope="module")
def pipeline(module_db: str, module_landing: Path, make_dbt) -> Pipeline:
    return Pipeline(module_db, module_landing, make_dbt(module_db))


@pytest.fixture(scope="module")
def runs(pipeline: Pipeline) -> tuple[State, State, State]:
    pipeline.run(BATCH_1)  # its dbt build also runs the ledger tie-out test: it passes
    first = state(pipeline.url)
    pipeline.run(BATCH_2)
    second = state(pipeline.url)
    pipeline.run({})  # nothing new
    third = state(pipeline.url)
    return first, second, third


def movements(ledger: list[tuple]) -> dict[str, tuple]:
    """movement_id -> (movement_type, account, location, counterparty, intercompany, disposition, qty, value)."""
    return {r[1]: (r[3], r[4], r[5], r[8], r[10], r[12], r[16], r[18]) for r in ledger if r[2] == "original"}


def test_every_movement_is_posted_at_unit_cost(runs) -> None:
    first, _, _ = runs
    posted = movements(first.ledger)
    assert posted["pos/sales:s1"] == ("sale", "on_hand", "S1", None, False, None, -3, Decimal("-7.5000"))
    assert posted["pos/sales:s2"][0::6] == ("till_return", 1)
    assert posted["oms/returns:R1:received"][:7] == (
        "customer_return",
        "on_hand",
        "S1",
        None,
        False,
        "awaiting_inspection",
        2,
    )
    assert "oms/returns:R1:inspected" not in posted  # still awaiting inspection
    assert posted["oms/returns:R2:inspected"][5:] == ("restock", -1, Decimal("-10.0000"))
    assert posted["wms/movements:m1"][0::6] == ("receipt", 10)
    assert posted["wms/movements:m3"][0::6] == ("damage", -1)
    assert posted["wms/movements:m5"][0::6] == ("damage_write_off", -1)
    assert posted["wms/movements:m6"][5:] == ("restock", 2, Decimal("20.0000"))
    # T1 goes to S2 (LE2): intercompany; T2 stays within LE1
    assert posted["wms/movements:m7"][:5] == ("transfer_out", "on_hand", "D1", "S2", True)
    assert posted["wms/movements:m8"][:5] == ("transfer_out", "on_hand", "D1", "S1", False)
    assert posted["erp/transfers:T1:A:shipped"] == (
        "transfer_shipped",
        "in_transit",
        "D1",
        "S2",
        True,
        None,
        4,
        Decimal("10.0000"),
    )
    assert posted["erp/transfers:T2:B:received"][0::6] == ("transfer_received", -5)
    assert "erp/transfers:T1:A:received" not in posted
    assert {r[2] for r in first.ledger} == {"original"}


def test_in_transit_balance_is_the_owned_in_transit(runs, module_db: str) -> None:
    first, second, _ = runs
    assert sum(r[16] for r in first.ledger if r[4] == "in_transit") == 4  # T1 on the road; T2 arrived
    # after batch 2 T1 arrived short (3 received, 1 lost): nothing in transit, as the pipeline says
    [(still_in_transit,)] = query(
        module_db, "select sum(in_transit_qty) from intermediate.int_supply__transfer_lines"
    )
    assert sum(r[16] for r in second.ledger if r[4] == "in_transit") == 0 == still_in_transit


def test_posted_rows_are_never_rewritten(runs) -> None:
    first, second, third = runs
    assert set(first.ledger) <= set(second.ledger)
    assert third.ledger == second.ledger  # a run without new data posts nothing


def test_changes_come_as_reversal_and_correction_rows(runs) -> None:
    first, second, _ = runs
    new_rows = [r for r in second.ledger if r not in set(first.ledger)]
    [run] = {r[20] for r in new_rows}
    by_id = {r[0]: r for r in new_rows}
    # B's cost went from 10.00 to 12.00: every B movement is reversed and restated
    reversal = by_id[f"wms/movements:m8/reversal/{run}"]
    correction = by_id[f"wms/movements:m8/correction/{run}"]
    assert (reversal[16], reversal[17], reversal[18]) == (5, Decimal("10.0000"), Decimal("50.0000"))
    assert (correction[16], correction[17], correction[18]) == (-5, Decimal("12.0000"), Decimal("-60.0000"))
    restated = {r[1] for r in new_rows if r[2] == "reversal"}
    assert all(r[6] == "B" for r in new_rows if r[2] != "original")
    assert restated == {
        m for m, v in movements(second.ledger).items() if m.endswith((":B:shipped", ":B:received"))
    } | {
        "pos/sales:s3",
        "oms/returns:R2:received",
        "oms/returns:R2:inspected",
        "wms/movements:m6",
        "wms/movements:m8",
    }
    # T1 arrived with 3 of 4 units: new movements, the shipment itself unchanged
    originals = {r[1]: r for r in new_rows if r[2] == "original"}
    assert originals["erp/transfers:T1:A:received"][16] == -3
    assert originals["erp/transfers:T1:A:transit_loss"][16] == -1
    assert originals["pos/sales:s4"][16] == -1
    # every movement's entries add up to its current figures
    net: dict[str, list] = {}
    for r in second.ledger:
        net.setdefault(r[1], [0, Decimal(0)])
        net[r[1]][0] += r[16]
        net[r[1]][1] += r[18]
    assert net["wms/movements:m8"] == [-5, Decimal("-60.0000")]
    assert net["erp/transfers:T1:A:shipped"] == [4, Decimal("10.0000")]


def test_tie_out_catches_a_ledger_that_does_not_explain_the_stock(runs, pipeline: Pipeline) -> None:
    # The builds above checked the tie-out and it passed; a stray entry (posted by no build) breaks S1's.
    with psycopg.connect(pipeline.url) as conn:
        conn.execute(
            "insert into finance.inventory_ledger select 'stray', 'stray', 'original', 'adjustment', 'on_hand',"
            " 'S1', 'A', 'LE1', null, null, false, null, null, 'test', 'stray', '2024-05-01T09:59:00Z', 1, 2.5, 2.5,"
            " now(), 0"
        )
    tie_out = "int_finance__ledger_tie_out"
    try:
        # A build checks the locations it touched: nothing new here, so it does not look at S1 ...
        pipeline.dbt("build", "--select", tie_out)
        # ... a build that posts a sale at S1 checks S1 and finds the stray entry ...
        deliver(
            pipeline.url,
            pipeline.landing,
            {
                "pos/sales/sales_3.csv": "event_id,location_id,sku,qty,event_ts\ns9,S1,B,1,2024-05-01T10:20:00\n"
            },
        )
        with pytest.raises(DbtCommandError, match="assert_inventory_ledger_ties_out"):
            pipeline.dbt("build", "--select", f"+{tie_out}")
        # ... and every later build reports it again, touched or not, until it is mended.
        with pytest.raises(DbtCommandError, match="assert_inventory_ledger_ties_out"):
            pipeline.dbt("build", "--select", tie_out)
    finally:
        with psycopg.connect(pipeline.url) as conn:
            conn.execute("delete from finance.inventory_ledger where ledger_entry_id = 'stray'")
    pipeline.dbt("build", "--select", tie_out)
    [(checked, broken)] = query(
        pipeline.url, f"select count(*), count(*) filter (where not ties_out) from intermediate.{tie_out}"
    )
    assert checked >= 3 and broken == 0  # D1, S1, S2 (and any location a feed names)


def test_recommendation_history_records_what_changed(runs) -> None:
    first, second, third = runs
    first_run = first.history[0][0]
    assert [r[1:] for r in first.history] == [
        ("purchase", "S1", None, "B", "new", 6, None, "recommended"),  # 4 on hand, up to 10
        ("transfer", "S1", "D1", "A", "new", 12, None, "held_for_exception"),  # COUNT_VARIANCE open
        ("transfer", "S2", "D1", "A", "new", 8, None, "recommended"),  # 3 + 4 in transit, up to 15
    ]
    assert {r[0] for r in first.history} == {first_run}
    changes = [r[1:] for r in second.history if r[0] != first_run]
    assert changes == [
        ("purchase", "S1", None, "B", "changed", 7, 6, "recommended"),  # one more B sold
        ("transfer", "S1", "D1", "A", "changed", 12, 12, "recommended"),  # the variance is resolved
        ("transfer", "S2", "D1", "A", "withdrawn", 0, 8, "recommended"),  # S2 counted 10
    ]
    assert third.history == second.history  # nothing changed, nothing appended


def test_allocation_accuracy(runs) -> None:
    first, _, _ = runs
    assert first.allocation == [("WEB", 2, 1, 0, 1, 8, Decimal("0.5000"))]


def test_exception_volume_age_and_cycle_time(runs) -> None:
    first, second, _ = runs
    count_variance = [v for (kind, _team), v in first.backlog.items() if kind == "COUNT_VARIANCE"]
    assert count_variance == [(1, 1, 0, Decimal("0.00"))]  # opened at this as_of
    oversold = [v for (kind, _team), v in second.backlog.items() if kind == "OVERSOLD"]
    assert oversold == [(1, 0, 0, Decimal("0.50"))]  # open since 09:40, as_of 10:10
    assert first.cycles["COUNT_VARIANCE"] == (0, None, 1)
    # detected at 09:40, resolved at 10:10
    assert second.cycles["COUNT_VARIANCE"] == (1, Decimal("0.50"), 0)


def test_feed_latency(runs) -> None:
    first, second, _ = runs
    assert first.latency["pos/sales"][:3] == (1, 0, 0)
    assert second.latency["pos/sales"][:3] == (2, 0, 0)
    files, _, _, p95_data_to_loaded, max_loaded_to_built, built = second.latency["wms/movements"]
    assert files == 1 and p95_data_to_loaded > 0 and max_loaded_to_built >= 0 and built is not None
