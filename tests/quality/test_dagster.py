"""The quality area in Dagster: checks on every raw feed asset, and the gate that blocks downstream."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from orchestration.definitions import defs
from orchestration.defs.ingestion.assets import INGESTION_ASSETS, raw_asset_key
from orchestration.defs.quality.assets import (
    BLOCKING_GATE_KEY,
    EXCEPTION_CHECKS,
    GATE_CHECK,
    GX_SECONDS_METADATA,
    INVENTORY_EXCEPTIONS_KEY,
    QUALITY_ASSETS,
    blocking_gate,
    evaluate_exception_checks,
)
from orchestration.defs.quality.checks import raw_suite_checks
from orchestration.defs.quality.resources import BLOCKING_CHECK, WARNING_CHECK, GreatExpectationsValidator
from orchestration.defs.resources import Warehouse
from orchestration.lib.feeds import FEEDS
from orchestration.lib.loader import ingest
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from orchestration.lib.quality.schema import ensure_quality_schema
from orchestration.lib.quality.suites import load_feed_suite
from orchestration.lib.settings import EXPECTATIONS_DIR, PROJECT_DIR
from tests.quality.world import clean_rows, feed, later, write_clean_world, write_feed
from tests.support.quality import exceptions, validate_all

REPLENISHMENT_PROBE = dg.AssetKey(["replenishment", "probe"])


@dg.asset(key=REPLENISHMENT_PROBE, deps=[BLOCKING_GATE_KEY])
def replenishment_probe() -> dg.MaterializeResult:
    """Stands in for a replenishment or finance asset: it depends on the gate, as they will."""
    return dg.MaterializeResult()


def test_every_raw_feed_asset_shows_its_suite_as_checks() -> None:
    check_keys = set(defs.resolve_asset_graph().asset_check_keys)
    for target in FEEDS:
        suite = load_feed_suite(EXPECTATIONS_DIR, target)
        expected = {
            name
            for severity, name in (("blocking", BLOCKING_CHECK), ("warning", WARNING_CHECK))
            if suite.rules_of(severity)
        }
        assert expected, target.feed_id
        assert {dg.AssetCheckKey(raw_asset_key(target), name) for name in expected} <= check_keys
    assert dg.AssetCheckKey(BLOCKING_GATE_KEY, GATE_CHECK) in check_keys
    assert all(spec.blocking for spec in blocking_gate.check_specs)
    # raw checks would skip dbt and the exceptions table too: the gate blocks instead (docs/quality.md)
    assert not any(spec.blocking for spec in raw_suite_checks.check_specs)


def test_loading_the_definitions_does_not_import_great_expectations() -> None:
    code = "import sys, orchestration.definitions; sys.exit('great_expectations' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, check=False).returncode == 0


@pytest.fixture
def warehouse_env(db_url: str, landing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI_DATABASE_URL", db_url)
    monkeypatch.setenv("OMNI_LANDING_DIR", str(landing))
    monkeypatch.delenv("OMNI_RESOLVED_DATABASE_URL", raising=False)


def run_everything(instance: dg.DagsterInstance) -> dg.ExecuteInJobResult:
    return dg.materialize(
        [*INGESTION_ASSETS, raw_suite_checks, *QUALITY_ASSETS, replenishment_probe],
        instance=instance,
        resources={"warehouse": Warehouse(), "great_expectations": GreatExpectationsValidator()},
        raise_on_error=False,
    )


def test_blocking_gate_stops_replenishment_on_bad_data_only(
    warehouse_env: None, db_url: str, landing: Path
) -> None:
    write_clean_world(landing)
    counts = feed("pos/inventory")
    store = "location_id_0"  # a known store
    write_feed(
        landing,
        counts,
        "counts_negative_damaged.csv",
        clean_rows(counts, later(1), count=1, location_id=store, damaged=-2),
    )

    with dg.instance_for_test() as instance:
        run_started = time.monotonic()
        bad = run_everything(instance)
        evaluations = {(e.asset_key, e.check_name): e for e in bad.get_asset_check_evaluations()}
        materialized = {e.asset_key for e in bad.get_asset_materialization_events()}

        assert not bad.success
        counts_check = evaluations[(raw_asset_key(counts), BLOCKING_CHECK)]
        assert not counts_check.passed and counts_check.severity == dg.AssetCheckSeverity.ERROR
        assert counts_check.metadata["sample_keys"].value["damaged_not_negative"][0]["location_id"] == store
        assert counts_check.metadata["unexpected_count"].value == 1
        assert all(
            e.passed
            for (key, _), e in evaluations.items()
            if key not in (raw_asset_key(counts), BLOCKING_GATE_KEY)
        )
        assert not evaluations[(BLOCKING_GATE_KEY, GATE_CHECK)].passed
        # the exceptions table's own checks ran on it, after its build
        assert all(evaluations[(INVENTORY_EXCEPTIONS_KEY, name)].passed for name in EXCEPTION_CHECKS)
        assert INVENTORY_EXCEPTIONS_KEY in materialized and REPLENISHMENT_PROBE not in materialized
        # how long the step validated, which benchmarks/scale.py reports as GX time
        (exceptions_event,) = bad.asset_materializations_for_node("quality__inventory_exceptions")
        gx_seconds = exceptions_event.metadata[GX_SECONDS_METADATA].value
        assert 0 < gx_seconds < time.monotonic() - run_started
        assert exceptions(db_url, "exception_type", "location_id", "status") == [
            ("NEGATIVE_QUANTITY", store, "open")
        ]

        # the till sends a corrected count: the next run resolves the exception and lets replenishment run
        write_feed(
            landing, counts, "counts_corrected.csv", clean_rows(counts, later(2), count=1, location_id=store)
        )
        good = run_everything(instance)

    assert good.success
    assert all(e.passed for e in good.get_asset_check_evaluations())
    assert REPLENISHMENT_PROBE in {e.asset_key for e in good.get_asset_materialization_events()}
    assert exceptions(db_url, "exception_type", "location_id", "status") == [
        ("NEGATIVE_QUANTITY", store, "resolved")
    ]


def test_mart_suites_are_checks_on_the_dbt_assets() -> None:
    from orchestration.definitions import defs

    checks = {key.to_user_string() for key in defs.resolve_asset_graph().asset_check_keys}
    assert {
        "marts/inventory_position:gx_blocking_expectations",
        "marts/atp_by_channel:gx_blocking_expectations",
        "finance/inventory_reconciliation:gx_warning_expectations",
    } <= checks


def test_the_exceptions_column_schema_is_the_tables_ddl(db_url: str) -> None:
    node = defs.resolve_asset_graph().get(INVENTORY_EXCEPTIONS_KEY)
    schema = node.metadata["dagster/column_schema"]
    with psycopg.connect(db_url) as conn:
        ensure_quality_schema(conn)
        table = conn.execute(
            "select column_name, udt_name, is_nullable = 'YES' from information_schema.columns"
            " where table_schema = 'quality' and table_name = 'inventory_exceptions' order by ordinal_position"
        ).fetchall()
    udt_of = {"integer": "int4"}  # the DDL's type names, as information_schema spells them
    assert [(c.name, udt_of.get(c.type, c.type), c.constraints.nullable) for c in schema.columns] == table
    assert len(table) == 15 and all(c.description for c in schema.columns)
    assert [c.name for c in schema.columns][-2:] == ["priority_score", "priority_rank"]
    by_name = {c.name: c for c in schema.columns}
    assert by_name["exception_id"].constraints.unique
    assert by_name["severity"].constraints.other == ["severity in ('blocking', 'warning')"]
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys if key.asset_key == node.key}
    assert checks == set(EXCEPTION_CHECKS)


def test_the_exceptions_checks_pass_on_a_build_and_fail_on_a_broken_row(db_url: str, landing: Path) -> None:
    pos = feed("pos/inventory")
    write_clean_world(landing)
    write_feed(landing, pos, "pos_bad_1.csv", clean_rows(pos, later(1), count=1, damaged=-1))
    ingest(db_url, landing)
    validate_all(db_url)
    build_inventory_exceptions(db_url)
    with psycopg.connect(db_url) as conn:
        passed = {r.check_name: r.passed for r in evaluate_exception_checks(conn)}
    assert passed == dict.fromkeys(EXCEPTION_CHECKS, True)
    [(exception_id,)] = exceptions(db_url, "exception_id")

    breakages = {
        "open_exceptions_have_a_known_owner_team": "update quality.inventory_exceptions set owner_team = 'nobody'",
        "lifecycle_times_in_order": "update quality.inventory_exceptions set first_seen_at = last_seen_at + interval '1 day'",
        "status_matches_the_history": "insert into quality.inventory_exception_history (exception_id, transition, as_of)"
        " select exception_id, 'resolved', last_seen_at from quality.inventory_exceptions",
    }
    for name, breakage in breakages.items():
        with psycopg.connect(db_url) as conn:  # each breakage rolled back before the next
            conn.execute(breakage)
            results = {r.check_name: r for r in evaluate_exception_checks(conn)}
            conn.rollback()
        assert {n for n, r in results.items() if not r.passed} == {name}, name
        assert results[name].severity == dg.AssetCheckSeverity.ERROR
        assert results[name].metadata["violations"].value == 1
        assert results[name].metadata["sample_exception_ids"].value == [exception_id]
