"""Replenishment and finance marts (docs/contract.md section 4) on a hand-written retailer.

The pipeline runs the way Dagster runs it: dbt without the after_quality_gate models (so
quality_rule_findings is current), the exceptions asset's merge, then the after_quality_gate
models. Two regions: north (DC D1, stores S1, S2, S3; legal entity LE1) and south (DC D2, store
S4; LE2); store X1 (east, LE3) sold a unit it never counted. as_of of the first batch is 2024-05-01 09:00, of the second 10:00.

S4 (south) has 12 units of A allocated against 10 on the shelf and 1 overdue in transit: it needs
11, which the south's DC D2 gives. Replenishment of sku A in the north (projected = available - reserved - committed + inbound):
- needs: S1 projected 4 < reorder point 10 -> 26 up to 30; S3 projected 2 < 10 -> 18 up to 20,
  held (COUNT_VARIANCE, blocking: book 5, shelf 2), so served after S1;
- donors: D1 (DC) atp 50 - reorder point 20 = 30; S2 (store) atp 20 - reorder point 5 = 15;
  the south's D2 has 50 spare but is in another region.
- cumulative need S1 [0, 26), S3 [26, 44); cumulative excess D1 [0, 30), S2 [30, 45):
  S1 <- D1 26; S3 <- D1 4 and S2 14 (held).
Sku B: S1 needs 20 (0 up to 20), D1 can spare 12 - 10 = 2, the rest (18) is a purchase.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tests.dbt.landing_files import Files
from tests.support.dbt import query
from tests.support.marts import Pipeline

BATCH_1: Files = {
    "erp/locations/locations.csv": """
location_id,location_type,region,legal_entity,ships_to_customer,pickup_enabled,snapshot_ts
D1,dc,north,LE1,true,false,2024-05-01T00:00:00
S1,store,north,LE1,false,true,2024-05-01T00:00:00
S2,store,north,LE1,false,true,2024-05-01T00:00:00
S3,store,north,LE1,false,true,2024-05-01T00:00:00
D2,dc,south,LE2,true,false,2024-05-01T00:00:00
S4,store,south,LE2,false,true,2024-05-01T00:00:00
X1,store,east,LE3,false,false,2024-05-01T00:00:00
""",
    "erp/items/items.csv": """
sku,description,category,unit_cost,currency,status,snapshot_ts
A,Item A,toys,2.50,EUR,active,2024-05-01T00:00:00
B,Item B,toys,10.00,EUR,active,2024-05-01T00:00:00
""",
    "erp/stock_policy/policy.csv": """
location_id,sku,safety_stock,reorder_point,order_up_to,lead_time_days,snapshot_ts
S1,A,0,10,30,3,2024-05-01T00:00:00
S2,A,0,5,10,3,2024-05-01T00:00:00
S3,A,0,10,20,3,2024-05-01T00:00:00
D1,A,0,20,100,7,2024-05-01T00:00:00
D2,A,0,0,100,7,2024-05-01T00:00:00
S4,A,0,5,10,3,2024-05-01T00:00:00
S1,B,0,5,20,3,2024-05-01T00:00:00
D1,B,0,10,40,7,2024-05-01T00:00:00
""",
    "pos/inventory/counts.csv": """
location_id,sku,on_hand,damaged,snapshot_ts
S1,A,32,0,2024-05-01T08:00:00
S1,B,0,0,2024-05-01T08:00:00
S2,A,20,0,2024-05-01T08:00:00
S3,A,2,0,2024-05-01T08:00:00
S4,A,10,0,2024-05-01T08:00:00
""",
    # 28 units sold at S1 after its count: on_hand 4, demand 1 a day over 28 days, so 4 days of
    # cover against a 3-day lead time -> priority 2 (cover < 2 x lead time).
    "pos/sales/sales.csv": """
event_id,location_id,sku,qty,event_ts
e1,S1,A,28,2024-05-01T09:00:00
x1,X1,A,1,2024-05-01T09:00:00
""",
    "wms/inventory/d1.csv": """
location_id,sku,status,qty,snapshot_ts
D1,A,available,50,2024-05-01T08:00:00
D1,B,available,12,2024-05-01T08:00:00
""",
    "wms/inventory/d2.csv": """
location_id,sku,status,qty,snapshot_ts
D2,A,available,50,2024-05-01T08:00:00
""",
    # 3 units of B on their way from D1 to S2 (owned by LE1 until received; not overdue).
    "erp/transfers/transfers.csv": """
transfer_id,sku,from_location_id,to_location_id,qty,status,shipped_at,expected_at,received_qty,snapshot_ts
T1,B,D1,S2,3,shipped,2024-05-01T07:00:00,2024-05-03T00:00:00,0,2024-05-01T08:00:00
T2,A,D2,S4,1,shipped,2024-04-29T07:00:00,2024-04-30T00:00:00,0,2024-05-01T08:00:00
""",
    # 12 units of A allocated at S4, which has 10: oversold by 2.
    "oms/order_lines/lines.csv": """
order_id,line_no,channel_id,sku,location_id,qty_open,status,snapshot_ts
O1,1,WEB,A,S4,12,allocated,2024-05-01T08:00:00
""",
    "erp/channel_policy/channels.csv": """
channel_id,channel_type,max_share_pct,channel_safety_stock,fulfillment_location_types,snapshot_ts
WEB,web,100,0,dc,2024-05-01T00:00:00
""",
    # WEB may sell 12 of B (D1's atp) but publishes 20: oversold; A is within its ats.
    "channel/WEB/listings/web.csv": """
channel_id,sku,published_qty,snapshot_ts
WEB,A,5,2024-05-01T08:00:00
WEB,B,20,2024-05-01T08:00:00
""",
    # The books agree with the shelves except S3/A (5 on the books, 2 counted).
    "erp/book_inventory/book.csv": """
location_id,sku,book_qty,book_value,as_of_date,snapshot_ts
S1,A,4,10.00,2024-05-01,2024-05-01T08:00:00
S2,A,20,50.00,2024-05-01,2024-05-01T08:00:00
S3,A,5,12.50,2024-05-01,2024-05-01T08:00:00
S4,A,10,25.00,2024-05-01,2024-05-01T08:00:00
D1,A,50,125.00,2024-05-01,2024-05-01T08:00:00
D1,B,12,120.00,2024-05-01,2024-05-01T08:00:00
D2,A,50,125.00,2024-05-01,2024-05-01T08:00:00
X1,A,-1,-2.50,2024-05-01,2024-05-01T08:00:00
""",
    # LE1: 76 A x 2.50 + 12 B x 10 on hand + 3 B x 10 in transit = 340. LE2: 60 A x 2.50 on hand
    # + 1 A in transit = 152.50, but the GL says 151.50.
    "erp/gl_balances/gl.csv": """
legal_entity,period,gl_account,balance,currency,snapshot_ts
LE1,2024-05,1400,300.00,EUR,2024-05-01T08:00:00
LE1,2024-05,1410,40.00,EUR,2024-05-01T08:00:00
LE2,2024-05,1400,151.50,EUR,2024-05-01T08:00:00
""",
}

# The count of S3 is confirmed (the books follow the shelf) and the GL of LE2 is corrected.
BATCH_2: Files = {
    "erp/book_inventory/book_corrected.csv": BATCH_1["erp/book_inventory/book.csv"]
    .replace("S3,A,5,12.50", "S3,A,2,5.00")
    .replace("2024-05-01T08:00:00", "2024-05-01T10:00:00"),
    "erp/gl_balances/gl_corrected.csv": BATCH_1["erp/gl_balances/gl.csv"]
    .replace("LE2,2024-05,1400,151.50", "LE2,2024-05,1400,152.50")
    .replace("2024-05-01T08:00:00", "2024-05-01T10:00:00"),
}


@dataclass
class Snapshot:
    transfers: list[tuple]
    purchases: list[tuple]
    valuation: dict[tuple[str, str], tuple]
    reconciliation: dict[tuple[str, str], tuple]
    close: dict[str, tuple]
    findings: list[tuple]
    rules: list[tuple]


def snapshot(url: str) -> Snapshot:
    return Snapshot(
        transfers=query(
            url,
            "select to_location_id, from_location_id, sku, qty, priority, status"
            " from replenishment.transfer_recommendations order by 1, 2, 3",
        ),
        purchases=query(
            url,
            "select location_id, sku, qty, priority, status from replenishment.purchase_recommendations order by 1, 2",
        ),
        valuation={
            (r[0], r[1]): r[2:]
            for r in query(
                url, "select location_id, sku, qty, unit_cost, value from finance.inventory_valuation"
            )
        },
        reconciliation={
            (r[0], r[1]): r[2:]
            for r in query(
                url,
                "select location_id, sku, book_qty, physical_qty, variance_qty, variance_value, status"
                " from finance.inventory_reconciliation",
            )
        },
        close={
            r[0]: r[1:]
            for r in query(
                url,
                "select legal_entity, gl_balance, subledger_value, variance, open_blocking_exceptions, close_ready"
                " from finance.close_readiness where period = '2024-05'",
            )
        },
        findings=query(
            url,
            "select exception_type, location_id, sku, severity, status from quality.inventory_exceptions"
            " where exception_type = 'COUNT_VARIANCE' order by location_id, sku",
        ),
        rules=query(
            url,
            "select e.exception_type, e.location_id, e.sku, e.severity, e.status, f.finding_key, f.details"
            " from quality.quality_rule_findings f join quality.inventory_exceptions e"
            " on e.exception_type = f.exception_type and e.feed = f.feed"
            " and e.location_id is not distinct from f.location_id and e.sku = f.sku"
            " and coalesce(e.details ->> 'channel_id', e.details ->> 'transfer_id', '') = f.finding_key"
            " order by 1, 2, 3",
        ),
    )


@pytest.fixture(scope="module")
def runs(module_db: str, module_landing: Path, make_dbt) -> tuple[Snapshot, Snapshot]:
    started = time.monotonic()
    pipeline = Pipeline(module_db, module_landing, make_dbt(module_db))
    pipeline.run(BATCH_1)
    first = snapshot(module_db)
    pipeline.run(BATCH_2)
    second = snapshot(module_db)
    print(f"two pipeline runs: {time.monotonic() - started:.1f} s")
    return first, second


# A month later (as_of 2024-06-01): S1's 28 sales of A leave the 28-day demand window, and B
# costs 12.00 (was 10.00).
BATCH_3: Files = {
    "channel/WEB/listings/web_june.csv": BATCH_1["channel/WEB/listings/web.csv"].replace(
        "2024-05-01T08:00:00", "2024-06-01T08:00:00"
    ),
    "erp/items/items_june.csv": BATCH_1["erp/items/items.csv"]
    .replace("B,Item B,toys,10.00", "B,Item B,toys,12.00")
    .replace("2024-05-01T00:00:00", "2024-06-01T00:00:00"),
    # a till sale that names no location (the feed allows it): kept, but no position's demand
    "pos/sales/sales_no_location.csv": "event_id,location_id,sku,qty,event_ts\nn1,,A,3,2024-05-31T12:00:00\n",
}

# Then S2 moves to the south: every sku is recomputed (a location's region or type changed).
BATCH_4: Files = {
    "erp/locations/locations_june.csv": BATCH_1["erp/locations/locations.csv"]
    .replace("S2,store,north", "S2,store,south")
    .replace("2024-05-01T00:00:00", "2024-06-01T01:00:00"),
}

PLAN_COLUMNS = "recommendation_type, location_id, from_location_id, sku, qty, reason, priority, status"


@dataclass
class PlanBuilds:
    """The replenishment plan and the valuation after runs 3 and 4, and a full rebuild after each."""

    run_seq_by_sku: list[dict[str, int]]  # after runs 2, 3 and 4: the build that wrote each sku's rows
    after_run_3: list[tuple]
    valuation_after_run_3: list[tuple]
    full_rebuild_after_run_3: tuple[list[tuple], list[tuple]]  # plan, valuation
    after_run_4: list[tuple]
    valuation_after_run_4: list[tuple]
    full_rebuild_after_run_4: tuple[list[tuple], list[tuple]]


def plan_run_seqs(url: str) -> dict[str, int]:
    """The build that wrote each sku's rows (a sku's rows are replaced together)."""
    rows = query(
        url, "select sku, array_agg(distinct _run_seq) from intermediate.int_replenishment__plan group by sku"
    )
    assert all(len(seqs) == 1 for _, seqs in rows), rows
    return {sku: seqs[0] for sku, seqs in rows}


def plan_rows(url: str) -> list[tuple]:
    return query(url, f"select {PLAN_COLUMNS} from intermediate.int_replenishment__plan order by 1, 2, 3, 4")


def valuation_rows(url: str) -> list[tuple]:
    return query(url, "select * from finance.inventory_valuation order by location_id, sku")


def full_rebuild(url: str, dbt) -> tuple[list[tuple], list[tuple]]:
    """Plan and valuation rebuilt from scratch (the next run goes on incrementally from there)."""
    # the views on the rebuilt tables go with them (a table's full rebuild drops its views)
    dbt(
        "run",
        "--full-refresh",
        "--select",
        "path:models/intermediate/replenishment",
        "path:models/intermediate/finance",
        "transfer_recommendations",
        "purchase_recommendations",
        "inventory_valuation",
    )
    return plan_rows(url), valuation_rows(url)


@pytest.fixture(scope="module")
def plan_builds(runs, module_db: str, module_landing: Path, make_dbt) -> PlanBuilds:
    # runs 1 and 2 are done (the runs fixture); their builds' plans are read back from _run_seq
    dbt = make_dbt(module_db)
    pipeline = Pipeline(module_db, module_landing, dbt)
    seqs = [plan_run_seqs(module_db)]
    pipeline.run(BATCH_3)  # per sku: A recomputed, B left alone
    seqs.append(plan_run_seqs(module_db))
    after_run_3, valuation_after_run_3 = plan_rows(module_db), valuation_rows(module_db)
    full_rebuild_after_run_3 = full_rebuild(module_db, dbt)
    pipeline.run(BATCH_4)  # a location changes region: every sku recomputed
    seqs.append(plan_run_seqs(module_db))
    after_run_4, valuation_after_run_4 = plan_rows(module_db), valuation_rows(module_db)
    return PlanBuilds(
        run_seq_by_sku=seqs,
        after_run_3=after_run_3,
        valuation_after_run_3=valuation_after_run_3,
        full_rebuild_after_run_3=full_rebuild_after_run_3,
        after_run_4=after_run_4,
        valuation_after_run_4=valuation_after_run_4,
        full_rebuild_after_run_4=full_rebuild(module_db, dbt),
    )


def test_transfers_dcs_first_same_region_never_below_the_donor_floor(runs) -> None:
    first, _ = runs
    assert first.transfers == [
        ("S1", "D1", "A", 26, 2, "recommended"),  # the DC covers S1 alone, before any store
        ("S1", "D1", "B", 2, 1, "recommended"),  # D1 keeps 10 of 12 (its floor); S1 is out: urgent
        ("S3", "D1", "A", 4, 3, "held_for_exception"),  # the rest of D1's excess (30 - 26)
        ("S3", "S2", "A", 14, 3, "held_for_exception"),  # then the store donor
        ("S4", "D2", "A", 11, 1, "recommended"),  # projected 10 - 12 + 1 = -1: up to 10 from its DC
    ]
    # D2's spare 39 units of A never cross to the north, and no donor goes below its reorder point
    region = {"D1": "north", "S1": "north", "S2": "north", "S3": "north", "D2": "south", "S4": "south"}
    assert all(region[to] == region[donor] for to, donor, *_ in first.transfers)
    given = {}
    for _to, donor, sku, qty, _priority, _status in first.transfers:
        given[(donor, sku)] = given.get((donor, sku), 0) + qty
    # D1 A 50-20, B 12-10; S2 20-5 >= 14; D2 50-0 >= 11
    assert given == {("D1", "A"): 30, ("D1", "B"): 2, ("S2", "A"): 14, ("D2", "A"): 11}


def test_network_shortfall_becomes_a_purchase(runs) -> None:
    first, _ = runs
    # S1/B needs 20, the region spares 2; S1/A and S3/A are covered in full by transfers
    assert first.purchases == [("S1", "B", 18, 1, "recommended")]


def test_reasons_explain_the_recommendation(runs, module_db: str) -> None:
    [(reason,)] = query(
        module_db,
        "select reason from replenishment.transfer_recommendations where to_location_id = 'S1' and sku = 'A'",
    )
    assert (
        "projected 4 below reorder point 10" in reason and "4.0 days of cover" in reason and "dc D1" in reason
    )


def test_hold_lifts_when_the_blocking_exception_resolves(runs) -> None:
    first, second = runs
    assert first.findings == [("COUNT_VARIANCE", "S3", "A", "blocking", "open")]
    assert second.findings == [("COUNT_VARIANCE", "S3", "A", "blocking", "resolved")]
    assert {t[5] for t in second.transfers if t[0] == "S3"} == {"recommended"}


def test_valuation_is_on_hand_at_unit_cost(runs) -> None:
    first, _ = runs
    assert first.valuation[("S1", "A")] == (4, Decimal("2.5000"), Decimal("10.00"))
    assert first.valuation[("D1", "B")] == (12, Decimal("10.0000"), Decimal("120.00"))
    assert first.valuation[("X1", "A")] == (-1, Decimal("2.5000"), Decimal("-2.50"))  # sold, never counted
    assert sum(v[2] for v in first.valuation.values()) == Decimal("457.50")  # 135 A x 2.50 + 12 B x 10


def test_reconciliation_figures(runs) -> None:
    first, second = runs
    assert first.reconciliation[("S3", "A")] == (5, 2, -3, Decimal("-7.50"), "variance")
    assert first.reconciliation[("D1", "A")] == (50, 50, 0, Decimal("0.00"), "within_tolerance")
    assert [k for k, v in first.reconciliation.items() if v[4] == "variance"] == [("S3", "A")]
    assert second.reconciliation[("S3", "A")] == (2, 2, 0, Decimal("0.00"), "within_tolerance")


def test_close_readiness_follows_variances_and_blocking_exceptions(runs) -> None:
    first, second = runs
    # LE1: values agree (340 incl. 30 owned in transit) but S3's count variance is open.
    assert first.close["LE1"] == (Decimal("340.00"), Decimal("340.00"), Decimal("0.00"), 1, False)
    # LE2: no exception, but the GL is 1.00 short of the subledger.
    assert first.close["LE2"] == (Decimal("151.50"), Decimal("152.50"), Decimal("1.00"), 0, False)
    # Both resolved by the second batch.
    assert second.close["LE1"] == (Decimal("340.00"), Decimal("340.00"), Decimal("0.00"), 0, True)
    assert second.close["LE2"] == (Decimal("152.50"), Decimal("152.50"), Decimal("0.00"), 0, True)


def test_rule_findings_become_exceptions_with_the_configured_severity(runs) -> None:
    first, _ = runs
    found = {row[:6]: row[6] for row in first.rules}
    assert list(found) == [  # ordered by type, location (null last), sku
        ("COUNT_VARIANCE", "S3", "A", "blocking", "open", ""),
        ("NEGATIVE_ON_HAND", "X1", "A", "blocking", "open", ""),  # sold 1, never counted
        ("OVERSOLD", "S4", "A", "warning", "open", ""),  # 12 allocated, 10 available
        ("OVERSOLD", "X1", "A", "warning", "open", ""),  # available -1: shortfall 1 by the formula
        ("OVERSOLD", None, "B", "warning", "open", "WEB"),  # publishes 20, ats 12; A (5 of 100) is fine
        ("TRANSFER_OVERDUE", "S4", "A", "warning", "open", "T2"),  # expected 04-30, as_of 05-01
    ]
    assert found[("OVERSOLD", "S4", "A", "warning", "open", "")]["shortfall"] == 2
    assert found[("OVERSOLD", None, "B", "warning", "open", "WEB")]["ats"] == 12
    assert found[("COUNT_VARIANCE", "S3", "A", "blocking", "open", "")]["variance_qty"] == -3


def test_a_build_recomputes_only_the_skus_whose_inputs_changed(plan_builds: PlanBuilds) -> None:
    after_run_2, after_run_3, after_run_4 = plan_builds.run_seq_by_sku
    # Run 2 lifted S3's hold on A (its count was confirmed): A was recomputed, B was left alone.
    # B's rows are still those of an earlier build than A's.
    assert after_run_2["B"] < after_run_2["A"]
    # Run 3 moved as_of a month on: S1's sales of A left the demand window, so A was recomputed;
    # nothing of B changed.
    assert after_run_3["B"] == after_run_2["B"]
    assert after_run_3["A"] > after_run_2["A"]
    # Run 4 moved S2 to another region: every sku was recomputed.
    assert after_run_4["A"] == after_run_4["B"] > after_run_3["A"]


def test_demand_leaving_the_window_changes_the_priority(plan_builds: PlanBuilds) -> None:
    [s1_a] = [r for r in plan_builds.after_run_3 if r[:4] == ("transfer", "S1", "D1", "A")]
    # 4 days of cover (priority 2) before; no demand in the window now: cover unknown, priority 3
    assert s1_a[6] == 3 and "days of cover" not in s1_a[5]


def test_a_location_changing_region_moves_its_donations(plan_builds: PlanBuilds) -> None:
    donors = {(r[1], r[2], r[3]): r[4] for r in plan_builds.after_run_4 if r[0] == "transfer"}
    assert ("S3", "S2", "A") in {(r[1], r[2], r[3]) for r in plan_builds.after_run_3 if r[0] == "transfer"}
    # S2 now gives to the south only; the north's S3 gets the rest of D1 and buys what is missing
    assert not any(to in ("S1", "S3") and donor == "S2" for to, donor, _ in donors)
    assert ("purchase", "S3", None, "A") in {r[:4] for r in plan_builds.after_run_4}


def test_incremental_plan_equals_a_full_rebuild(plan_builds: PlanBuilds) -> None:
    # after a build that recomputed some skus, and after one that recomputed every sku
    assert plan_builds.after_run_3 == plan_builds.full_rebuild_after_run_3[0]
    assert plan_builds.after_run_4 == plan_builds.full_rebuild_after_run_4[0]
    assert len(plan_builds.after_run_3) >= 5  # not vacuous: transfers and a purchase


def test_incremental_valuation_follows_a_new_unit_cost_and_equals_a_full_rebuild(
    plan_builds: PlanBuilds,
) -> None:
    d1_b = next(r for r in plan_builds.valuation_after_run_3 if r[1:3] == ("D1", "B"))
    assert d1_b[0].isoformat().startswith("2024-06-01") and d1_b[3:] == (
        12,
        Decimal("12.0000"),
        Decimal("144.00"),
    )
    assert plan_builds.valuation_after_run_3 == plan_builds.full_rebuild_after_run_3[1]
    assert plan_builds.valuation_after_run_4 == plan_builds.full_rebuild_after_run_4[1]


def test_a_sale_without_a_location_is_kept_but_adds_to_no_positions_demand(
    plan_builds, module_db: str
) -> None:
    assert query(module_db, "select sku, sold_qty from staging.stg_pos__sales where location_id is null") == [
        ("A", 3)
    ]
    assert query(
        module_db,
        "select count(*) from intermediate.int_replenishment__daily_demand where location_id is null or sku is null",
    ) == [(0,)]
