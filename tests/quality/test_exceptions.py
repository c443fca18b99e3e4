"""quality.inventory_exceptions: every source of findings, stable ids, and the lifecycle."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import psycopg
from click.testing import CliRunner

from orchestration.cli import main
from orchestration.lib.loader import ingest
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from orchestration.lib.run_progress import open_exception_summary
from tests.feed_files import feed_dir
from tests.quality.world import clean_rows, feed, iso, later, write_clean_world, write_feed
from tests.support.quality import exceptions, validate_all


def rebuild(url: str):
    validate_all(url)
    return build_inventory_exceptions(url)


def test_quarantined_file_duplicate_event_and_out_of_order_snapshot(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    sales, pos = feed("pos/sales"), feed("pos/inventory")
    # a file without its qty column is quarantined whole
    (feed_dir(landing, sales) / "sales_nocolumn.csv").write_text(
        "event_id,location_id,sku,event_ts\ne9,location_id_0,sku_0,2026-11-01T11:00:00Z\n"
    )
    # the same event delivered again in a second file (raw keeps both rows)
    first = clean_rows(sales, later(-20), count=2)
    write_feed(landing, sales, "sales_a.csv", first)
    write_feed(landing, sales, "sales_b.csv", [first[1], *clean_rows(sales, later(-15), count=1)])
    # location_id_0's 12:03 count is delivered, then its 12:02 count arrives (as_of stays within
    # the OMS's 5-minute SLA of the other feeds' 12:00 snapshots)
    write_feed(landing, pos, "pos_0_1203.csv", clean_rows(pos, later(3), count=1))
    ingest(db_url, landing)
    late = write_feed(landing, pos, "pos_0_1202.csv", clean_rows(pos, later(2), count=1))
    os.utime(late, ns=(time.time_ns(), time.time_ns() + 10**9))  # delivered after everything else
    ingest(db_url, landing)

    report = rebuild(db_url)

    assert exceptions(
        db_url, "exception_type", "feed", "location_id", "sku", "severity", "owner_team", "status"
    ) == [
        ("DUPLICATE_EVENT", "pos/sales", "location_id_1", "sku_1", "warning", "integration", "open"),
        ("MALFORMED_FILE", "pos/sales", None, None, "warning", "integration", "open"),
        ("OUT_OF_ORDER_SNAPSHOT", "pos/inventory", "location_id_0", None, "warning", "integration", "open"),
    ]
    assert report.opened == 3 and report.open_blocking == 0
    with psycopg.connect(db_url) as conn:
        details = dict(
            conn.execute("select exception_type, details from quality.inventory_exceptions").fetchall()
        )
    assert details["MALFORMED_FILE"]["file_path"] == "pos/sales/sales_nocolumn.csv"
    assert "missing required column(s) qty" in details["MALFORMED_FILE"]["reason"]
    assert details["DUPLICATE_EVENT"]["event_id"] == first[1]["event_id"]
    assert details["DUPLICATE_EVENT"]["copies"] == 2 and details["DUPLICATE_EVENT"]["distinct_versions"] == 1
    assert details["DUPLICATE_EVENT"]["files"] == ["pos/sales/sales_a.csv", "pos/sales/sales_b.csv"]
    assert details["OUT_OF_ORDER_SNAPSHOT"]["snapshot_ts"].startswith(iso(later(2))[:16])
    assert details["OUT_OF_ORDER_SNAPSHOT"]["newer_snapshot_ts_delivered_before"].startswith(
        iso(later(3))[:16]
    )


def test_lifecycle_open_resolved_reopened_with_stable_id(db_url: str, landing: Path) -> None:
    pos = feed("pos/inventory")
    write_clean_world(landing)
    write_feed(landing, pos, "pos_bad_1.csv", clean_rows(pos, later(1), count=1, damaged=-1))
    ingest(db_url, landing)
    rebuild(db_url)
    columns = ("exception_id", "exception_type", "status", "first_seen_at", "last_seen_at", "detected_at")
    [opened] = exceptions(db_url, *columns)
    assert opened[1:3] == ("NEGATIVE_QUANTITY", "open")
    assert opened[3] == opened[4] == opened[5] == later(1)  # data time, not the wall clock

    write_feed(landing, pos, "pos_good_2.csv", clean_rows(pos, later(2), count=1))
    ingest(db_url, landing)
    report = rebuild(db_url)
    [resolved] = exceptions(db_url, *columns)
    assert report.resolved == 1
    assert resolved[0] == opened[0] and resolved[2] == "resolved"
    assert resolved[3:] == opened[3:]  # last seen at 12:01; resolution is in the history

    write_feed(landing, pos, "pos_bad_3.csv", clean_rows(pos, later(3), count=1, damaged=-5))
    ingest(db_url, landing)
    report = rebuild(db_url)
    [reopened] = exceptions(db_url, *columns)
    assert report.reopened == 1 and report.opened == 0
    assert reopened[0] == opened[0] and reopened[2] == "open"
    assert reopened[3] == later(1) and reopened[4] == later(3) and reopened[5] == later(3)
    with psycopg.connect(db_url) as conn:
        history = conn.execute(
            "select transition, as_of from quality.inventory_exception_history where exception_id = %s"
            " order by history_id",
            (opened[0],),
        ).fetchall()
        value = conn.execute(
            "select details->'unexpected_values' from quality.inventory_exceptions"
        ).fetchone()[0]
    assert history == [("opened", later(1)), ("resolved", later(2)), ("reopened", later(3))]
    assert value == [-5]


def test_rebuilding_on_the_same_data_changes_no_row(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    sales = feed("pos/sales")
    write_feed(landing, sales, "sales_unknown.csv", clean_rows(sales, later(1), count=1, location_id="S_X"))
    ingest(db_url, landing)
    rebuild(db_url)
    query = "select exception_id, xmin::text, status from quality.inventory_exceptions order by 1"
    with psycopg.connect(db_url) as conn:
        before = conn.execute(query).fetchall()
        history = conn.execute("select count(*) from quality.inventory_exception_history").fetchone()
    report = rebuild(db_url)
    with psycopg.connect(db_url) as conn:
        assert conn.execute(query).fetchall() == before
        assert conn.execute("select count(*) from quality.inventory_exception_history").fetchone() == history
    assert [r[2] for r in before] == ["open"] and report.opened == report.resolved == 0
    assert exceptions(db_url, "exception_type", "location_id", "severity") == [
        ("UNKNOWN_LOCATION", "S_X", "warning")
    ]


def test_dbt_rule_findings_are_merged_when_the_model_exists(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    pos = feed("pos/inventory")
    for clean in feed_dir(landing, pos).glob("clean_*"):
        clean.unlink()  # replaced: location_id_1's newest count is an hour older than as_of
    write_feed(
        landing, pos, "pos_1_stale.csv", clean_rows(pos, later(-60), count=1, location_id="location_id_1")
    )
    write_feed(
        landing, pos, "pos_rest.csv", [r for r in clean_rows(pos) if r["location_id"] != "location_id_1"]
    )
    ingest(db_url, landing)
    with psycopg.connect(db_url) as conn:
        conn.execute("create schema if not exists quality")  # what the dbt project would do
        conn.execute(
            "create table quality.quality_rule_findings as select * from (values"
            " ('NEGATIVE_ON_HAND', null, 'wms', 'wms/inventory', 'DC1', 'sku_0', '{\"on_hand\": -3}'::jsonb, null),"
            " ('OVERSOLD', 'warning', 'channel', 'channel/listings', null, 'sku_1', '{\"ats\": 0}'::jsonb, 'web'),"
            " ('OVERSOLD', 'warning', 'channel', 'channel/listings', null, 'sku_1', '{\"ats\": 0}'::jsonb, 'mkt_a')"
            ") as t(exception_type, severity, source_system, feed, location_id, sku, details, finding_key)"
        )
    report = rebuild(db_url)
    assert report.dbt_findings == "quality.quality_rule_findings"
    rows = exceptions(db_url, "exception_type", "feed", "location_id", "severity", "owner_team")
    assert rows == [
        ("NEGATIVE_ON_HAND", "wms/inventory", "DC1", "blocking", "dc_operations"),  # severity from config.yml
        ("OVERSOLD", "channel/listings", None, "warning", "ecommerce"),
        ("OVERSOLD", "channel/listings", None, "warning", "ecommerce"),  # told apart by finding_key
        ("STALE_FEED", "pos/inventory", "location_id_1", "warning", "store_operations"),
    ]
    with psycopg.connect(db_url) as conn:
        conn.execute("delete from quality.quality_rule_findings where finding_key = 'mkt_a'")
    rebuild(db_url)
    with psycopg.connect(db_url) as conn:
        states = conn.execute(
            "select exception_type, status, count(*) from quality.inventory_exceptions group by 1, 2 order by 1, 2"
        ).fetchall()
    assert states == [
        ("NEGATIVE_ON_HAND", "open", 1),
        ("OVERSOLD", "open", 1),
        ("OVERSOLD", "resolved", 1),
        ("STALE_FEED", "open", 1),
    ]


def test_acknowledged_permanent_findings_resolve_and_stay_resolved(db_url: str, landing: Path) -> None:
    write_clean_world(landing)
    sales = feed("pos/sales")
    (feed_dir(landing, sales) / "sales_nocolumn.csv").write_text(
        "event_id,location_id,sku,event_ts\ne9,location_id_0,sku_0,2026-11-01T11:00:00Z\n"
    )
    write_feed(landing, sales, "sales_unknown.csv", clean_rows(sales, later(1), count=1, location_id="S_X"))
    ingest(db_url, landing)
    rebuild(db_url)
    ids = {r[1]: r[0] for r in exceptions(db_url, "exception_id", "exception_type")}
    runner, env = CliRunner(), {"OMNI_DATABASE_URL": db_url}

    listed = runner.invoke(main, ["exceptions", "list"], env=env)
    assert (
        listed.exit_code == 0 and "MALFORMED_FILE" in listed.output and "2 open exception(s)" in listed.output
    )
    # `run` ends with the open ones by severity and team
    summary = open_exception_summary(db_url)
    assert summary[0] == "  2 open exception(s) (omni-inventory exceptions list):"
    groups = Counter(exceptions(db_url, "severity", "owner_team"))
    assert sorted(" ".join(line.split()) for line in summary[1:]) == sorted(
        f"{severity} / {team} {count}" for (severity, team), count in groups.items()
    )
    # a limited list says how many it leaves out
    limited = runner.invoke(main, ["exceptions", "list", "--limit", "1"], env=env)
    assert limited.exit_code == 0 and "1 of 2 open exception(s) (--limit 1" in limited.output
    refused = runner.invoke(
        main, ["exceptions", "ack", ids["UNKNOWN_LOCATION"], "--by", "ann", "--note", "x"], env=env
    )
    assert refused.exit_code != 0 and "resolves by itself" in refused.output
    acked = runner.invoke(
        main,
        [
            "exceptions",
            "ack",
            ids["MALFORMED_FILE"][:12],
            "--by",
            "ann@example.com",
            "--note",
            "re-sent fixed",
        ],
        env=env,
    )
    assert acked.exit_code == 0, acked.output
    assert f"{ids['MALFORMED_FILE']} (MALFORMED_FILE) resolved" in acked.output

    report = rebuild(db_url)  # the file is still quarantined: the finding stays settled
    assert report.acknowledged == 1 and report.reopened == 0 and report.opened == 0
    assert exceptions(db_url, "exception_type", "status") == [
        ("MALFORMED_FILE", "resolved"),
        ("UNKNOWN_LOCATION", "open"),
    ]
    with psycopg.connect(db_url) as conn:
        ack = conn.execute(
            "select acknowledged_by, note from quality.exception_acknowledgements where exception_id = %s",
            (ids["MALFORMED_FILE"],),
        ).fetchone()
        history = conn.execute(
            "select transition from quality.inventory_exception_history where exception_id = %s order by history_id",
            (ids["MALFORMED_FILE"],),
        ).fetchall()
    assert ack == ("ann@example.com", "re-sent fixed")
    assert history == [("opened",), ("resolved",)]
    open_only = runner.invoke(main, ["exceptions", "list", "--type", "MALFORMED_FILE"], env=env)
    assert "0 open exception(s)" in open_only.output
