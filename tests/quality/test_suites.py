"""The suite files: generated from the registry, current, editable through config and custom files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from orchestration.lib import expectation_suites
from orchestration.lib.feeds import FEEDS
from orchestration.lib.quality.settings import (
    OWNER_TEAMS_SEED,
    QualityConfigError,
    load_owner_teams,
    load_quality_settings,
)
from orchestration.lib.quality.suites import load_feed_suite, load_suite, suite_file, suite_name
from orchestration.lib.settings import EXPECTATIONS_DIR


@pytest.fixture
def expectations_copy(tmp_path: Path) -> Path:
    """A scratch copy of expectations/ to edit (GX state folders excluded)."""
    target = tmp_path / "expectations"
    shutil.copytree(
        EXPECTATIONS_DIR, target, ignore=shutil.ignore_patterns("uncommitted", ".ge_store_backend_id")
    )
    return target


def test_committed_suites_are_current() -> None:
    stale = expectation_suites.stale_files(EXPECTATIONS_DIR)
    assert stale == [], f"regenerate with `python -m orchestration.lib.expectation_suites`: {stale}"
    assert expectation_suites.main(["--check"]) == 0


def test_every_feed_has_a_suite_whose_expectations_say_what_a_failure_means() -> None:
    rules = {
        feed.feed_id: {r.check_name: r for r in load_feed_suite(EXPECTATIONS_DIR, feed).rules}
        for feed in FEEDS
    }
    pos = rules["pos/inventory"]
    assert set(pos) == {
        "damaged_not_negative",
        "sku_in_item_master",
        "location_id_in_location_master",
        "snapshot_within_sla",
    }
    assert pos["snapshot_within_sla"].exception_type == "STALE_FEED"
    assert pos["snapshot_within_sla"].severity == "warning"
    assert "interval '30 minutes'" in pos["snapshot_within_sla"].config["kwargs"]["unexpected_rows_query"]
    assert pos["sku_in_item_master"].severity == "warning" and pos["sku_in_item_master"].report_keys == (
        "sku",
    )
    assert rules["wms/inventory"]["status_in_contract_set"].exception_type == "INVALID_STATUS"
    assert rules["erp/locations"]["location_type_in_contract_set"].exception_type == "INVALID_VALUE"
    # on_hand may be negative (contract); damaged may not
    assert "on_hand_not_negative" not in pos
    assert set(rules["erp/transfers"]) >= {
        "from_location_id_in_location_master",
        "to_location_id_in_location_master",
    }
    # the freshness SLAs of the issue: POS 30, WMS 15, OMS 5, marketplace listings 15, ERP 24 h
    slas = {
        f: r["snapshot_within_sla"].config["meta"]["sla_minutes"]
        for f, r in rules.items()
        if "snapshot_within_sla" in r
    }
    assert slas["wms/inventory"] == 15 and slas["oms/order_lines"] == 5
    assert slas["channel/listings"] == 15 and slas["erp/items"] == 24 * 60
    # events carry changes, not state: no snapshot freshness
    assert all("snapshot_within_sla" not in rules[f.feed_id] for f in FEEDS if f.kind == "event")
    # the hand-written channel policy expectations are merged in
    assert rules["erp/channel_policy"]["max_share_pct_not_negative"].config["kwargs"]["max_value"] == 100
    assert (
        rules["erp/channel_policy"]["fulfillment_location_types_known"].config["meta"]["source"] == "custom"
    )


def test_suites_open_in_a_gx_file_context(expectations_copy: Path) -> None:
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=str(expectations_copy))
    for feed in FEEDS:
        suite = context.suites.get(suite_name(feed))
        ours = load_feed_suite(expectations_copy, feed)
        assert [e.meta["check_name"] for e in suite.expectations] == [r.check_name for r in ours.rules]
        assert all(e.meta["severity"] in ("blocking", "warning") for e in suite.expectations)


def test_custom_expectations_replace_disable_and_add(expectations_copy: Path) -> None:
    custom = expectations_copy / "custom" / "raw.pos__inventory.json"
    custom.write_text(
        json.dumps(
            {
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "damaged", "min_value": 0},
                        "meta": {
                            "check_name": "damaged_not_negative",
                            "severity": "warning",
                            "exception_type": "NEGATIVE_QUANTITY",
                            "report_keys": ["location_id", "sku"],
                        },
                    },
                    {"meta": {"check_name": "snapshot_within_sla", "disabled": True}},
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": "on_hand", "max_value": 100000},
                        "meta": {
                            "check_name": "on_hand_plausible",
                            "severity": "warning",
                            "exception_type": "INVALID_VALUE",
                            "report_keys": ["location_id", "sku"],
                        },
                    },
                ]
            }
        )
    )
    assert expectation_suites.main(["--check", "--dir", str(expectations_copy)]) == 1
    assert expectation_suites.main(["--dir", str(expectations_copy)]) == 0
    suite = load_suite(expectations_copy, "raw.pos__inventory")
    by_name = {r.check_name: r for r in suite.rules}
    assert "snapshot_within_sla" not in by_name
    assert by_name["damaged_not_negative"].severity == "warning"
    assert by_name["damaged_not_negative"].config["severity"] == "warning"  # GX's own field follows
    assert by_name["on_hand_plausible"].config["meta"]["source"] == "custom"
    assert expectation_suites.main(["--check", "--dir", str(expectations_copy)]) == 0


def test_config_changes_sla_and_severity_after_regeneration(expectations_copy: Path) -> None:
    config = expectations_copy / "config.yml"
    text = config.read_text().replace(
        "freshness_sla_minutes: {}", "freshness_sla_minutes:\n  pos/inventory: 45"
    )
    config.write_text(text.replace("STALE_FEED: warning", "STALE_FEED: blocking"))
    assert load_quality_settings(expectations_copy).sla_overrides == {"pos/inventory": 45}
    stale = expectation_suites.stale_files(expectations_copy)
    assert suite_file(expectations_copy, "raw.pos__inventory") in stale
    expectation_suites.write_suites(expectations_copy)
    rule = load_suite(expectations_copy, "raw.pos__inventory").rule("snapshot_within_sla")
    assert "interval '45 minutes'" in rule.config["kwargs"]["unexpected_rows_query"]
    assert rule.severity == "blocking"
    assert expectation_suites.stale_files(expectations_copy) == []


def test_invalid_settings_name_the_file_and_the_entry(expectations_copy: Path) -> None:
    config = expectations_copy / "config.yml"
    config.write_text(config.read_text().replace("UNKNOWN_SKU: warning", "UNKNOWN_SKU: fatal"))
    with pytest.raises(QualityConfigError, match=r"config.yml: exception_severity.UNKNOWN_SKU is 'fatal'"):
        load_quality_settings(expectations_copy)
    teams = expectations_copy / "exception_owner_teams.csv"
    teams.write_text(OWNER_TEAMS_SEED.read_text() + "STALE_FEED,pos/nowhere,store_operations,typo\n")
    with pytest.raises(
        QualityConfigError, match=r"exception_owner_teams.csv:\d+: unknown feed 'pos/nowhere'"
    ):
        load_owner_teams(teams)
    suite = suite_file(expectations_copy, "raw.pos__sales")
    document = json.loads(suite.read_text())
    document["expectations"][0]["meta"]["severity"] = "urgent"
    suite.write_text(json.dumps(document))
    with pytest.raises(QualityConfigError, match=r"meta\.severity must be one of blocking, warning"):
        load_suite(expectations_copy, "raw.pos__sales")
