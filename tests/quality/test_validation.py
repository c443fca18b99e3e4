"""The suites against a real PostgreSQL with real Great Expectations: each fault, with its key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg

from orchestration.lib.loader import ingest
from orchestration.lib.settings import EXPECTATIONS_DIR
from tests.quality.world import LOCATIONS, SKUS, clean_rows, feed, iso, later, write_clean_world, write_feed
from tests.support.quality import failing, gx_findings, validate_all


def key(**values: str) -> str:
    """A key as PostgreSQL prints jsonb (keys ordered by length, then bytes)."""
    ordered = sorted(values.items(), key=lambda kv: (len(kv[0]), kv[0]))
    return "{" + ", ".join(f'"{k}": {json.dumps(v)}' for k, v in ordered) + "}"


def test_clean_data_raises_no_finding_and_is_not_validated_twice(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    ingest(db_url, landing)

    first = validate_all(db_url)
    assert failing(first) == set()
    assert all(o.validated_now for o in first)
    assert gx_findings(db_url) == set()

    again = validate_all(db_url)
    assert not any(o.validated_now for o in again)
    assert [o.validated_at for o in again] == [o.validated_at for o in first]


def test_each_fault_is_reported_with_its_key_and_nothing_else(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    # a fourth location in the master, whose till snapshot is 45 minutes older than as_of (SLA 30)
    locations = feed("erp/locations")
    write_feed(
        landing,
        locations,
        "locations_v2.csv",
        [*clean_rows(locations), *clean_rows(locations, count=1, location_id="location_id_3")],
    )
    pos = feed("pos/inventory")
    write_feed(
        landing,
        pos,
        "pos_location_id_3.csv",
        clean_rows(pos, later(-45), count=1, location_id="location_id_3"),
    )
    # a sale of a sku the item master does not know
    sales = feed("pos/sales")
    write_feed(
        landing,
        sales,
        "sales_unknown_sku.csv",
        [
            *clean_rows(sales, later(-10), count=1),
            *clean_rows(sales, later(-9), count=1, sku="sku_9", event_id="sale-sku-9"),
        ],
    )
    # a DC the location master does not know, and a status outside the contract's set
    wms = feed("wms/inventory")
    write_feed(landing, wms, "wms_unknown_dc.csv", clean_rows(wms, count=1, location_id="DC_X"))
    write_feed(
        landing,
        wms,
        "wms_lost.csv",
        clean_rows(wms, later(5), count=1, location_id=LOCATIONS[2], sku=SKUS[2], status="lost"),
    )
    # a newer stock policy with a negative safety stock
    policy = feed("erp/stock_policy")
    rows = clean_rows(policy, later(5))
    rows[1]["safety_stock"] = -4
    write_feed(landing, policy, "policy_v2.csv", rows)
    report = ingest(db_url, landing)
    assert report.count("quarantined") == 0, report.outcomes

    outcomes = validate_all(db_url)

    assert failing(outcomes) == {
        ("raw.pos__inventory", "snapshot_within_sla"),
        ("raw.pos__sales", "sku_in_item_master"),
        ("raw.wms__inventory", "location_id_in_location_master"),
        ("raw.wms__inventory", "status_in_contract_set"),
        ("raw.erp__stock_policy", "safety_stock_not_negative"),
    }
    assert gx_findings(db_url) == {
        ("raw.pos__inventory", "snapshot_within_sla", "STALE_FEED", key(location_id="location_id_3")),
        ("raw.pos__sales", "sku_in_item_master", "UNKNOWN_SKU", key(sku="sku_9")),
        ("raw.wms__inventory", "location_id_in_location_master", "UNKNOWN_LOCATION", key(location_id="DC_X")),
        (
            "raw.wms__inventory",
            "status_in_contract_set",
            "INVALID_STATUS",
            key(location_id="location_id_2", sku="sku_2", status="lost"),
        ),
        (
            "raw.erp__stock_policy",
            "safety_stock_not_negative",
            "NEGATIVE_QUANTITY",
            key(location_id="location_id_1", sku="sku_1"),
        ),
    }
    by_suite = {o.suite: o for o in outcomes}
    sales_sku = next(
        e for e in by_suite["raw.pos__sales"].expectations if e.check_name == "sku_in_item_master"
    )
    assert (sales_sku.severity, sales_sku.unexpected_count, sales_sku.keys_listed) == ("warning", 1, 1)
    assert [e.check_name for e in by_suite["raw.pos__inventory"].failed("warning")] == ["snapshot_within_sla"]
    assert by_suite["raw.pos__inventory"].failed("blocking") == []
    with psycopg.connect(db_url) as conn:
        details = conn.execute(
            "select details from quality.gx_findings where check_name = 'sku_in_item_master'"
        ).fetchone()[0]
        stale = conn.execute(
            "select details from quality.gx_findings where check_name = 'snapshot_within_sla'"
        ).fetchone()[0]
    assert details["sample_event_ids"] == ["sale-sku-9"] and details["unexpected_rows"] == 1
    assert stale["newest_snapshot_ts"].startswith(iso(later(-45))[:16]) and stale["sla_minutes"] == 30


def test_findings_follow_the_current_data(db_url: str, landing: Path) -> None:
    """A superseded snapshot's finding goes; an event's finding goes once the master knows the sku."""
    write_clean_world(landing)
    pos, sales, items = feed("pos/inventory"), feed("pos/sales"), feed("erp/items")
    write_feed(landing, pos, "pos_negative.csv", clean_rows(pos, later(1), count=1, damaged=-2))
    write_feed(landing, sales, "sales_sku_9.csv", clean_rows(sales, later(1), count=1, sku="sku_9"))
    ingest(db_url, landing)
    assert failing(validate_all(db_url)) == {
        ("raw.pos__inventory", "damaged_not_negative"),
        ("raw.pos__sales", "sku_in_item_master"),
    }

    write_feed(landing, pos, "pos_fixed.csv", clean_rows(pos, later(2), count=1))
    write_feed(
        landing,
        items,
        "items_v2.csv",
        [*clean_rows(items, later(2)), *clean_rows(items, later(2), count=1, sku="sku_9")],
    )
    ingest(db_url, landing)
    outcomes = validate_all(db_url)

    assert failing(outcomes) == set()
    assert gx_findings(db_url) == set()
    sales_outcome = next(o for o in outcomes if o.suite == "raw.pos__sales")
    # no new sales load: only the row of the open finding was validated again
    assert sales_outcome.batch.startswith("0 new load(s), 1 open finding(s) re-checked")


def test_an_expectation_that_raises_is_a_failure_and_keeps_its_findings(
    db_url: str, landing: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "expectations"
    shutil.copytree(EXPECTATIONS_DIR, directory, ignore=shutil.ignore_patterns("uncommitted"))
    write_clean_world(landing)
    ingest(db_url, landing)
    (directory / "custom" / "raw.pos__sales.json").write_text(
        json.dumps(
            {
                "expectations": [
                    {
                        "type": "unexpected_rows_expectation",
                        "kwargs": {
                            "unexpected_rows_query": "select b.sku from {batch} b join raw.no_such_table x on true"
                        },
                        "meta": {
                            "check_name": "broken_rule",
                            "severity": "blocking",
                            "exception_type": "INVALID_VALUE",
                            "report_keys": ["sku"],
                        },
                    }
                ]
            }
        )
    )
    from orchestration.lib.expectation_suites import write_suites

    write_suites(directory)
    outcomes = validate_all(db_url, directory=directory)
    broken = next(e for o in outcomes for e in o.expectations if e.check_name == "broken_rule")
    assert not broken.success and "no_such_table" in (broken.error or "")
    with psycopg.connect(db_url) as conn:
        gate = conn.execute("select suite, check_name from quality.failed_blocking_expectations").fetchall()
        fingerprint = conn.execute(
            "select fingerprint from quality.gx_validations where suite = 'raw.pos__sales'"
        ).fetchone()[0]
    assert gate == [("raw.pos__sales", "broken_rule")]
    assert fingerprint.endswith(":error")  # retried on the next call, not cached as a verdict
    assert any(
        o.validated_now for o in validate_all(db_url, directory=directory) if o.suite == "raw.pos__sales"
    )


def test_old_events_are_validated_again_only_on_a_full_revalidation(db_url: str, landing: Path) -> None:
    """Event batches are new loads (plus open findings): a master that loses a sku later flags the
    snapshots that hold it at once, the old events only when a full re-validation is asked for."""
    write_clean_world(landing)
    ingest(db_url, landing)
    assert failing(validate_all(db_url)) == set()
    items = feed("erp/items")
    write_feed(landing, items, "items_without_sku_2.csv", clean_rows(items, later(1), count=2))
    ingest(db_url, landing)

    incremental = failing(validate_all(db_url))
    assert ("raw.pos__inventory", "sku_in_item_master") in incremental
    assert ("raw.pos__sales", "sku_in_item_master") not in incremental

    full = failing(validate_all(db_url, full=True))
    assert ("raw.pos__sales", "sku_in_item_master") in full
    assert ("raw.pos__sales", "sku_in_item_master", "UNKNOWN_SKU", key(sku="sku_2")) in gx_findings(db_url)


def test_when_only_as_of_moves_only_the_expectations_reading_it_run_again(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    pos, sales = feed("pos/inventory"), feed("pos/sales")
    write_feed(landing, pos, "pos_negative.csv", clean_rows(pos, later(1), count=1, damaged=-2))
    ingest(db_url, landing)
    first_outcomes = validate_all(db_url)
    first = failing(first_outcomes)
    assert ("raw.pos__inventory", "damaged_not_negative") in first
    assert ("raw.pos__inventory", "snapshot_within_sla") not in first

    # a sale two hours later moves as_of; no till count arrives: the newest one is now stale
    write_feed(landing, sales, "sales_later.csv", clean_rows(sales, later(120), count=1))
    ingest(db_url, landing)
    messages: list[str] = []
    outcomes = validate_all(db_url, log=messages.append)

    pos_outcome = next(o for o in outcomes if o.suite == "raw.pos__inventory")
    assert pos_outcome.validated_now
    assert {
        ("raw.pos__inventory", "damaged_not_negative"),  # kept from the first validation
        ("raw.pos__inventory", "snapshot_within_sla"),  # run again: as_of moved past the SLA
    } <= failing(outcomes)
    assert {(f[0], f[1]) for f in gx_findings(db_url)} >= {
        ("raw.pos__inventory", "damaged_not_negative"),
        ("raw.pos__inventory", "snapshot_within_sla"),
    }
    [line] = [m for m in messages if m.startswith("raw.pos__inventory:")]
    rules = len(pos_outcome.expectations)
    # snapshot_within_sla reads the newest snapshot_ts of each store only, not every counted row
    assert f"(as_of moved: 1 of {rules} expectations run again on the newest snapshot_ts of " in line
    assert pos_outcome.batch == next(o for o in first_outcomes if o.suite == "raw.pos__inventory").batch

    # the same stale stores as a full validation of the newest snapshots finds
    stale = {f for f in gx_findings(db_url) if f[1] == "snapshot_within_sla"}
    validate_all(db_url, force=True)
    assert {f for f in gx_findings(db_url) if f[1] == "snapshot_within_sla"} == stale
    assert any(f[0] == "raw.pos__inventory" for f in stale)
