"""Each rule of docs/contract.md section 3 on tiny hand-written landing files: real loader, real dbt,
real PostgreSQL. The scenario (tests/dbt/landing_files.py) is built once with `dbt build`, which
also runs every dbt data test and unit test; each test below checks one rule on the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orchestration.lib.dbt_runner import DbtCommandError
from tests.dbt.landing_files import (
    EXPECTED_POSITIONS,
    POSITION_COLUMNS,
    RULES_AS_OF,
    RULES_BATCH_1,
    RULES_BATCH_2,
)
from tests.support.dbt import OWN_MODELS, deliver, query


@dataclass
class Built:
    url: str
    statuses: dict[str, str]  # dbt unique_id -> status of the one `dbt build`

    def position(self, location_id: str, sku: str) -> dict[str, Any]:
        rows = query(
            self.url,
            f"select {', '.join(POSITION_COLUMNS)}, as_of::text, source_snapshot_ts::text"
            " from marts.inventory_position where location_id = %s and sku = %s",
            (location_id, sku),
        )
        assert len(rows) == 1, f"{location_id}/{sku}: {len(rows)} rows"
        return dict(zip((*POSITION_COLUMNS, "as_of", "source_snapshot_ts"), rows[0], strict=True))


@pytest.fixture(scope="module")
def built(module_db: str, module_landing: Path, make_dbt) -> Built:
    deliver(module_db, module_landing, RULES_BATCH_1)
    # A second ingest: the late, older S1 count gets a higher load id than the 08:00 one.
    deliver(module_db, module_landing, RULES_BATCH_2)
    result = make_dbt(module_db)("build", *OWN_MODELS)
    statuses = {r.node.unique_id: str(r.status) for r in result.result.results}
    return Built(module_db, statuses)


def test_build_runs_every_model_data_test_and_unit_test(built: Built) -> None:
    kinds = {"model": 0, "test": 0, "unit_test": 0}
    for unique_id, status in built.statuses.items():
        kind = unique_id.split(".", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
        assert status in ("success", "pass"), f"{unique_id}: {status}"
    assert kinds["model"] >= 40 and kinds["test"] >= 40
    # one dbt unit test per formula of the issue (duplicate, out-of-order x2, roll-forward,
    # reservation expiry, returns x2, channel share, network, time-phased)
    assert kinds["unit_test"] >= 10


def test_positions_match_the_contract(built: Built) -> None:
    rows = query(
        built.url, f"select location_id, sku, {', '.join(POSITION_COLUMNS)} from marts.inventory_position"
    )
    actual = {(r[0], r[1]): tuple(r[2:]) for r in rows}
    assert actual == EXPECTED_POSITIONS


def test_as_of_is_the_newest_data_time_on_every_row(built: Built) -> None:
    for mart in ("inventory_position", "atp_by_location", "atp_by_channel", "atp_network"):
        values = query(built.url, f"select distinct as_of::text from marts.{mart}")
        assert values == [(RULES_AS_OF,)], mart


def test_store_on_hand_rolls_the_till_count_forward(built: Built) -> None:
    # 08:00 count 20; sales after it: +4 (09:00, delivered twice) and -1 (till return); the 07:00
    # sale is in the count; plus 2 returned units awaiting inspection.
    s1a = built.position("S1", "A")
    assert s1a["on_hand"] == 20 - (4 - 1) + 2
    assert s1a["source_snapshot_ts"] == "2024-05-01 08:00:00+00"
    # a sale at the count's own timestamp is in the count
    assert built.position("S1", "B")["on_hand"] == 5


def test_dc_on_hand_is_every_bucket_rolled_forward(built: Built) -> None:
    d1a = built.position("D1", "A")
    # buckets at 06:00: 100/5/3/2/4; movements after: available -20 -1, damaged +1, returned +3
    assert (d1a["on_hand"], d1a["damaged"], d1a["quarantined"], d1a["returned"], d1a["available"]) == (
        97,
        6,
        3 + 2,
        7,
        79,
    )


def test_duplicate_event_counts_once_and_is_recorded(built: Built) -> None:
    assert query(built.url, "select count(*) from staging.stg_pos__sales where event_id = 's2'") == [(1,)]
    assert query(built.url, "select feed, event_id, is_identical from staging.stg_raw__duplicate_events") == [
        ("pos/sales", "s2", True)
    ]


def test_older_snapshot_delivered_later_is_ignored_and_recorded(built: Built) -> None:
    assert built.position("S1", "A")["source_snapshot_ts"] == "2024-05-01 08:00:00+00"
    # the late 06:00 count listed E: it must not become a position
    assert query(built.url, "select count(*) from marts.inventory_position where sku = 'E'") == [(0,)]
    assert query(
        built.url,
        "select snapshot_ts::text, delivery_status, newest_earlier_snapshot_ts::text"
        " from staging.stg_raw__snapshot_deliveries where feed = 'pos/inventory' and scope_value = 'S1'"
        " order by load_id",
    ) == [
        ("2024-05-01 08:00:00+00", "accepted", None),
        ("2024-05-01 06:00:00+00", "out_of_order", "2024-05-01 08:00:00+00"),
    ]


def test_snapshot_in_two_files_is_one_snapshot(built: Built) -> None:
    assert query(
        built.url, "select sku, on_hand from staging.stg_pos__inventory where location_id = 'S2' order by 1"
    ) == [
        ("A", 10),
        ("C", 0),
    ]


def test_positions_are_the_pairs_known_to_any_feed(built: Built) -> None:
    # S1/B: till + transfer; D1/B: PO + transfer; S2/C: till + reservation + PO; nothing from the late count
    assert set(EXPECTED_POSITIONS) == {
        (r[0], r[1]) for r in query(built.url, "select location_id, sku from marts.inventory_position")
    }


def test_reserved_counts_live_created_reservations_at_as_of(built: Built) -> None:
    # V1 (3, expires tomorrow) + V4 (1, no expiry); V2 expired at 09:00 < as_of; V3 released
    assert built.position("S1", "A")["reserved"] == 4
    assert built.position("S2", "C")["reserved"] == 5


def test_returned_at_stores_is_returns_received_and_not_inspected(built: Built) -> None:
    s1a = built.position("S1", "A")
    assert s1a["returned"] == 2  # R1 received; R2 inspected; R3 (S1/B) only initiated
    assert built.position("S1", "B")["returned"] == 0
    assert s1a["available"] == s1a["on_hand"] - s1a["damaged"] - s1a["quarantined"] - s1a["returned"]


def test_committed_counts_allocated_and_picked_lines(built: Built) -> None:
    assert built.position("S1", "A")["committed"] == 2 + 1  # shipped and cancelled lines do not count
    assert built.position("D1", "A")["committed"] == 10


def test_in_transit_is_shipped_qty_minus_received(built: Built) -> None:
    assert built.position("S1", "A")["in_transit_in"] == 10 - 4
    assert built.position("D1", "A")["in_transit_out"] == 10 - 4
    # approved (T2) and received (T3) transfers are not in transit
    assert built.position("S2", "A")["in_transit_in"] == 0
    assert built.position("S1", "B")["in_transit_in"] == 0


def test_on_order_and_safety_stock(built: Built) -> None:
    assert built.position("D1", "A")["on_order"] == 50
    assert built.position("S1", "A")["on_order"] == 7
    assert built.position("S1", "A")["safety_stock"] == 2
    assert built.position("D1", "A")["safety_stock"] == 0  # no policy


def test_atp_and_shortfall(built: Built) -> None:
    s1a = built.position("S1", "A")
    assert s1a["atp"] == max(0, 15 - 4 - 3 - 2) == 6
    s2c = built.position("S2", "C")
    assert (s2c["atp"], s2c["shortfall"]) == (0, 5)


def test_atp_by_location_is_the_slice_of_inventory_position(built: Built) -> None:
    assert query(
        built.url, "select location_id, sku, atp, as_of from marts.atp_by_location order by 1, 2"
    ) == query(built.url, "select location_id, sku, atp, as_of from marts.inventory_position order by 1, 2")


def test_atp_by_channel_eligibility_share_and_unallocated(built: Built) -> None:
    ats = dict(
        ((r[0], r[1]), r[2])
        for r in query(built.url, "select channel_id, sku, ats from marts.atp_by_channel")
    )
    # WEB: S2 10 + D1 69 + F1 5 (S1 does not ship) -> floor(84 * 50%) - 1 - 2 accepted = 39
    assert ats[("WEB", "A")] == 39
    # PICK (store channel): pickup-enabled stores only (S1): 6; S1/B: 5
    assert (ats[("PICK", "A")], ats[("PICK", "B")]) == (6, 5)
    # MKT: DCs: floor(69 * 80%) - 0 - 4 (OM2 was cancelled) = 51
    assert ats[("MKT", "A")] == 51
    # every channel x every known sku, never negative
    assert len(ats) == 3 * 3 and min(ats.values()) >= 0


def test_atp_network_nets_marketplace_unallocated_orders(built: Built) -> None:
    network = dict(query(built.url, "select sku, atp from marts.atp_network"))
    # 6 + 10 + 69 + 5 = 90 - 4 accepted MKT units (the accepted WEB order does not count)
    assert network == {"A": 86, "B": 5, "C": 0}


def test_atp_timephased_adds_inbound_by_expected_date(built: Built) -> None:
    rows = query(
        built.url,
        "select location_id, sku, bucket_date, projected_atp from marts.atp_timephased order by 1, 2, 3",
    )
    series: dict[tuple[str, str], list[tuple[date, int]]] = {}
    for location_id, sku, bucket_date, projected in rows:
        series.setdefault((location_id, sku), []).append((bucket_date, projected))
    first = date(2024, 5, 1)
    assert all([d for d, _ in days] == [first + timedelta(n) for n in range(14)] for days in series.values())
    values = {key: [v for _, v in days] for key, days in series.items()}
    assert values[("S1", "A")] == [6, 6] + [12] * 12  # T1's 6 units due 05-03; P2 (05-20) is beyond
    assert values[("D1", "A")] == [69] * 4 + [119] * 10  # P1's 50 units on 05-05
    assert values[("D1", "B")] == [20] * 14  # overdue PO counts from day 0
    assert values[("S2", "C")] == [0] + [3] * 13  # base -5 (not floored) + 8 on 05-02


def test_mart_columns_and_types_follow_the_contract(built: Built) -> None:
    expected = {
        "inventory_position": [
            ("location_id", "text"),
            ("sku", "text"),
            ("on_hand", "integer"),
            ("damaged", "integer"),
            ("quarantined", "integer"),
            ("returned", "integer"),
            ("available", "integer"),
            ("reserved", "integer"),
            ("committed", "integer"),
            ("in_transit_in", "integer"),
            ("in_transit_out", "integer"),
            ("on_order", "integer"),
            ("safety_stock", "integer"),
            ("atp", "integer"),
            ("shortfall", "integer"),
            ("as_of", "timestamp with time zone"),
            ("source_snapshot_ts", "timestamp with time zone"),
        ],
        "atp_by_location": [
            ("location_id", "text"),
            ("sku", "text"),
            ("atp", "integer"),
            ("as_of", "timestamp with time zone"),
        ],
        "atp_by_channel": [
            ("channel_id", "text"),
            ("sku", "text"),
            ("ats", "integer"),
            ("as_of", "timestamp with time zone"),
        ],
        "atp_network": [("sku", "text"), ("atp", "integer"), ("as_of", "timestamp with time zone")],
        "atp_timephased": [
            ("location_id", "text"),
            ("sku", "text"),
            ("bucket_date", "date"),
            ("projected_atp", "integer"),
        ],
    }
    for table, columns in expected.items():
        actual = query(
            built.url,
            "select column_name::text, data_type::text from information_schema.columns"
            " where table_schema = 'marts' and table_name = %s order by ordinal_position",
            (table,),
        )
        assert actual == columns, table
    # the tables behind the views enforce keys and not-null in PostgreSQL itself
    constraints = dict(
        query(
            built.url,
            "select conrelid::regclass::text, pg_get_constraintdef(oid) from pg_constraint"
            " where contype = 'p' and connamespace = 'intermediate'::regnamespace",
        )
    )
    assert constraints["intermediate.int_inventory__positions"] == "PRIMARY KEY (location_id, sku)"
    assert constraints["intermediate.int_availability__timephased"] == "PRIMARY KEY (location_id, sku)"
    assert constraints["intermediate.int_availability__channel_ats"] == "PRIMARY KEY (channel_id, sku)"
    assert constraints["intermediate.int_availability__network_atp"] == "PRIMARY KEY (sku)"


def test_bi_role_reads_the_marts_only(built: Built) -> None:
    def can(privilege_sql: str) -> bool:
        return query(built.url, privilege_sql)[0][0]

    assert can("select has_schema_privilege('omni_bi', 'marts', 'usage')")
    for mart in ("inventory_position", "atp_by_location", "atp_by_channel", "atp_network", "atp_timephased"):
        assert can(f"select has_table_privilege('omni_bi', 'marts.{mart}', 'select')")
        assert not can(f"select has_table_privilege('omni_bi', 'marts.{mart}', 'insert')")
    for schema in ("raw", "staging", "intermediate", "meta"):
        assert not can(f"select has_schema_privilege('omni_bi', '{schema}', 'usage')"), schema
    assert not can("select has_table_privilege('omni_bi', 'raw.pos__sales', 'select')")
    assert not can("select has_table_privilege('omni_bi', 'staging.stg_pos__sales', 'select')")
    assert query(built.url, "select rolcanlogin from pg_roles where rolname = 'omni_bi'") == [(False,)]


def test_one_scan_checks_name_each_failing_column(built: Built, make_dbt) -> None:
    """columns_not_null: one test per model, one failure row per bad column, rows of this build only."""
    table = "staging.stg_oms__order_lines"
    dbt = make_dbt(built.url)
    with psycopg.connect(built.url) as conn:
        conn.execute(f"create temporary table saved as select * from {table}")
        # two columns of a row go missing, stamped as written by the next build (the test's own)
        conn.execute(
            f"update {table} set line_no = null, snapshot_ts = null,"
            " _run_seq = (select last_value + 1 from meta.dbt_runs_run_seq_seq)"
            " where (order_id, line_no) = (select order_id, line_no from saved limit 1)"
        )
        conn.commit()
        try:
            with pytest.raises(DbtCommandError) as failed:
                dbt("test", "--select", "stg_oms__order_lines__not_null")
            # the next build does not check them again (the build that wrote them did)
            again = dbt("test", "--select", "stg_oms__order_lines__not_null")
        finally:
            conn.execute(f"delete from {table}")
            conn.execute(f"insert into {table} select * from saved")
            conn.commit()
    assert "FAIL 2 stg_oms__order_lines__not_null" in str(failed.value)  # line_no and snapshot_ts
    assert [str(r.status) for r in again.result.results if r.node.resource_type == "test"] == ["pass"]


def test_a_view_whose_definition_changed_is_recreated(built: Built, make_dbt) -> None:
    """The view materialization skips a view only when its stored fingerprint matches the model's;
    the view's comment is its description (persist_docs), never the fingerprint."""

    def identity() -> tuple[int, str, str]:
        return query(
            built.url,
            "select v.oid::bigint, f.fingerprint, obj_description(v.oid, 'pg_class') from pg_class v"
            ' join meta.dbt_view_fingerprints f on f.relation like \'%."marts"."atp_by_location"\''
            " where v.oid = 'marts.atp_by_location'::regclass",
        )[0]

    dbt = make_dbt(built.url)
    dbt("run", "--select", "atp_by_location")
    oid, fingerprint, comment = identity()
    assert len(fingerprint) == 32 and comment.startswith("Available to promise per location")
    column_comment = query(
        built.url,
        "select col_description('marts.atp_by_location'::regclass, attnum) from pg_attribute"
        " where attrelid = 'marts.atp_by_location'::regclass and attname = 'atp'",
    )[0][0]
    assert column_comment and "promise" in column_comment.lower()
    dbt("run", "--select", "atp_by_location")
    assert identity() == (oid, fingerprint, comment)  # same definition: left alone
    with psycopg.connect(built.url) as conn:  # what a changed model SQL or contract looks like
        conn.execute(
            "update meta.dbt_view_fingerprints set fingerprint = 'older' where relation like '%atp_by_location%'"
        )
    dbt("run", "--select", "atp_by_location")
    recreated, restored, comment_again = identity()
    assert recreated != oid and restored == fingerprint and comment_again == comment


def test_an_incremental_table_whose_columns_no_longer_match_its_model_fails_naming_them(
    built: Built, make_dbt
) -> None:
    """on_schema_change 'fail' (macros/incremental_materialization.sql): a stored table with a
    column the model does not return, or a column of another type, stops the model's incremental
    run with the columns named and the table untouched; a matching table runs."""
    dbt = make_dbt(built.url)
    table = "intermediate.int_locations__attributes"

    def stored() -> list[tuple]:
        return query(built.url, f"select * from {table} order by 1")

    before = stored()
    changes = {
        "add column added_by_hand integer": (
            "only in the table: added_by_hand integer",
            "only in the model: -",
        ),
        "alter column location_id type varchar(40)": (
            "only in the table: location_id character varying(40)",
            "only in the model: location_id text",
        ),
    }
    for change, expected in changes.items():
        with psycopg.connect(built.url) as conn:
            conn.execute(f"alter table {table} {change}")
        try:
            with pytest.raises(DbtCommandError) as failure:
                dbt("run", "--select", "int_locations__attributes")
            for line in expected:
                assert line in str(failure.value), str(failure.value)
            assert "--full-refresh" in str(failure.value)
        finally:
            with psycopg.connect(built.url) as conn:
                undo = (
                    "drop column added_by_hand"
                    if change.startswith("add")
                    else "alter column location_id type text"
                )
                conn.execute(f"alter table {table} {undo}")
    dbt("run", "--select", "int_locations__attributes")  # the dropped column is not a difference
    assert stored() == before
