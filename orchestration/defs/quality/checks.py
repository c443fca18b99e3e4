"""Asset checks of the raw feeds: every feed's suite shows on its asset as one check per severity.

One multi-asset check op covers every feed (one GX start per run, not one per feed); it is
subsettable, so a run that loads only some feeds validates only their suites. The checks are not
Dagster *blocking* checks by default: a blocking check skips every asset downstream of the feed
in the run (dbt staging, marts, and the exceptions table itself). Replenishment and finance are
gated by `quality/blocking_gate` instead (assets.py); expectations/config.yml
`raw_checks_block_downstream: true` makes the blocking-severity checks Dagster blocking checks.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from orchestration.defs.dbt.project import manifest_path
from orchestration.defs.ingestion.assets import raw_asset_key
from orchestration.defs.quality.resources import CHECK_OF_SEVERITY, GreatExpectationsValidator, check_result
from orchestration.defs.resources import Warehouse
from orchestration.lib.feeds import FEEDS
from orchestration.lib.quality.settings import expectations_dir, load_quality_settings
from orchestration.lib.quality.suites import load_feed_suite, load_mart_suites, mart_target, suite_file

# Steps of higher priority start first when several are ready (Dagster's executors honour it).
PRIORITY_TAG = "dagster/priority"


def raw_suite_check_specs(directory: Path | None = None) -> list[dg.AssetCheckSpec]:
    """Read from the suite files (plain JSON, no GX import): the UI lists what each check covers."""
    directory = directory or expectations_dir()
    settings = load_quality_settings(directory)
    specs = []
    for feed in FEEDS:
        suite = load_feed_suite(directory, feed)
        for severity, check_name in CHECK_OF_SEVERITY.items():
            rules = suite.rules_of(severity)
            if not rules:
                continue
            specs.append(
                dg.AssetCheckSpec(
                    name=check_name,
                    asset=raw_asset_key(feed),
                    description=f"Great Expectations suite {suite.name}, {severity} expectations: "
                    + "; ".join(f"{r.check_name} ({r.exception_type})" for r in rules),
                    blocking=severity == "blocking" and settings.raw_checks_block_downstream,
                    metadata={
                        "suite": suite.name,
                        "suite_file": str(suite_file(directory, suite.name).relative_to(directory.parent)),
                        "expectations": [r.check_name for r in rules],
                    },
                )
            )
    return specs


@dg.multi_asset_check(
    specs=raw_suite_check_specs(),
    name="great_expectations_raw_suites",
    can_subset=True,
    # When dbt could start as well (the checks do not block it by default), dbt goes first: the
    # marts of a micro-batch then wait for the load only, not for GX's start-up and validation.
    op_tags={PRIORITY_TAG: "-1"},
    description="Validate the raw feeds' Great Expectations suites (expectations/) and record every "
    "failing key in quality.gx_findings.",
)
def raw_suite_checks(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    great_expectations: GreatExpectationsValidator,
) -> Iterator[dg.AssetCheckResult]:
    selected = context.selected_asset_check_keys
    feeds = [feed for feed in FEEDS if any(key.asset_key == raw_asset_key(feed) for key in selected)]
    outcomes = great_expectations.validate(warehouse.url(), feeds, log=context.log.info)
    for result in great_expectations.check_results(outcomes):
        # check_result names both the asset and the check of every result it makes
        assert result.asset_key is not None and result.check_name is not None
        if dg.AssetCheckKey(result.asset_key, result.check_name) in selected:
            yield result


def dbt_asset_keys() -> set[dg.AssetKey]:
    """Keys of the dbt project's models and seeds, [schema, name] as orchestration/defs/dbt names them."""
    path = manifest_path()
    if not path.exists():
        return set()
    nodes = json.loads(path.read_text()).get("nodes", {}).values()
    return {
        dg.AssetKey([node["schema"], node.get("alias") or node["name"]])
        for node in nodes
        if node.get("resource_type") in ("model", "seed", "snapshot")
    }


def mart_suite_check_specs(directory: Path | None = None) -> list[dg.AssetCheckSpec]:
    """One check per severity on each mart suite's dbt asset (suites of relations dbt lacks are skipped)."""
    directory = directory or expectations_dir()
    known = dbt_asset_keys()
    specs = []
    for suite in load_mart_suites(directory):
        key = dg.AssetKey(mart_target(suite).asset_key_path)
        if key not in known:
            continue
        for severity, check_name in CHECK_OF_SEVERITY.items():
            rules = suite.rules_of(severity)
            if rules:
                specs.append(
                    dg.AssetCheckSpec(
                        name=check_name,
                        asset=key,
                        description=f"Great Expectations suite {suite.name}, {severity} expectations: "
                        + "; ".join(f"{r.check_name} ({r.exception_type})" for r in rules),
                        metadata={
                            "suite": suite.name,
                            "suite_file": str(
                                suite_file(directory, suite.name).relative_to(directory.parent)
                            ),
                            "expectations": [r.check_name for r in rules],
                        },
                    )
                )
    return specs


MART_SUITE_SPECS = mart_suite_check_specs()


@dg.multi_asset_check(
    specs=MART_SUITE_SPECS,
    name="great_expectations_mart_suites",
    can_subset=True,
    description="Validate the key marts' Great Expectations suites (expectations/gx/expectations/<schema>/) "
    "after dbt built them, and record every failing key in quality.gx_findings.",
)
def mart_suite_checks(
    context: dg.AssetCheckExecutionContext,
    warehouse: Warehouse,
    great_expectations: GreatExpectationsValidator,
) -> Iterator[dg.AssetCheckResult]:
    selected = context.selected_asset_check_keys
    relations = sorted({".".join(key.asset_key.path) for key in selected})
    outcomes = great_expectations.validate_marts(warehouse.url(), relations, log=context.log.info)
    for outcome in outcomes:
        key = dg.AssetKey(outcome.suite.split("."))
        for severity, check_name in CHECK_OF_SEVERITY.items():
            if outcome.of_severity(severity) and dg.AssetCheckKey(key, check_name) in selected:
                yield check_result(outcome, severity, key)


QUALITY_CHECKS = [raw_suite_checks, *([mart_suite_checks] if MART_SUITE_SPECS else [])]
