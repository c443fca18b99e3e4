"""The Great Expectations resource: validates feed suites and speaks Dagster asset checks."""

from collections.abc import Callable, Iterable
from pathlib import Path

import dagster as dg

from orchestration.defs.ingestion.assets import raw_asset_key
from orchestration.lib.feeds import Feed, get_feed
from orchestration.lib.quality.settings import expectations_dir
from orchestration.lib.quality.validation import (
    ExpectationOutcome,
    SuiteOutcome,
    validate_feeds,
    validate_marts,
)

BLOCKING_CHECK = "gx_blocking_expectations"
WARNING_CHECK = "gx_warning_expectations"
CHECK_OF_SEVERITY = {"blocking": BLOCKING_CHECK, "warning": WARNING_CHECK}
DAGSTER_SEVERITY = {"blocking": dg.AssetCheckSeverity.ERROR, "warning": dg.AssetCheckSeverity.WARN}


def _failures_table(failed: list[ExpectationOutcome]) -> str:
    lines = [
        "| expectation | exception type | unexpected | keys listed | error |",
        "|---|---|---|---|---|",
    ]
    for e in failed:
        listed = f"{e.keys_listed}{' (truncated)' if e.truncated else ''}"
        error = (e.error or "").replace("|", "/").replace("\n", " ")[:200]
        lines.append(f"| {e.check_name} | {e.exception_type} | {e.unexpected_count} | {listed} | {error} |")
    return "\n".join(lines)


def check_result(
    outcome: SuiteOutcome, severity: str, asset_key: dg.AssetKey | None = None
) -> dg.AssetCheckResult:
    """One suite, one severity: passed when none of those expectations failed.

    The asset is the feed's raw asset, or `asset_key` (a mart suite's dbt asset).
    """
    expectations = outcome.of_severity(severity)
    failed = [e for e in expectations if not e.success]
    return dg.AssetCheckResult(
        asset_key=asset_key or raw_asset_key(_feed(outcome.feed_id)),
        check_name=CHECK_OF_SEVERITY[severity],
        passed=not failed,
        severity=DAGSTER_SEVERITY[severity],
        metadata={
            "suite": outcome.suite,
            "batch": outcome.batch,
            # rows of the current snapshots or of the new event loads (re-checked rows not counted)
            "batch_rows": outcome.batch_rows,
            "as_of": outcome.as_of or "nothing loaded",
            "expectations": len(expectations),
            "failed_expectations": dg.MetadataValue.md(_failures_table(failed) if failed else "none"),
            "unexpected_count": sum(e.unexpected_count for e in failed),
            "sample_keys": dg.MetadataValue.json(
                {e.check_name: e.sample_keys for e in failed if e.sample_keys}
            ),
            # False: the suite's inputs had not changed since it was validated at validated_at.
            "validated_now": outcome.validated_now,
            "validated_at": outcome.validated_at,
            "validation_seconds": outcome.seconds,
        },
    )


def _feed(feed_id: str) -> Feed:
    source, name = feed_id.split("/", 1)
    feed = get_feed(source, name)
    if feed is None:
        raise KeyError(feed_id)
    return feed


class GreatExpectationsValidator(dg.ConfigurableResource):
    """Runs the raw feeds' Great Expectations suites against the warehouse (PostgreSQL).

    Suites are read from `expectations_dir` (default: the repository's expectations/ folder, or
    OMNI_EXPECTATIONS_DIR). Validation is idempotent per data state: a suite whose inputs did not
    change is not run twice, so checks and the exceptions asset can both ask for it.
    """

    expectations_dir: str | None = None
    # Set for one run (launchpad) after a master-data correction: the raw feeds' checks re-validate
    # every event, not only the new loads and the open findings.
    full_revalidation: bool = False

    def directory(self) -> Path:
        return Path(self.expectations_dir) if self.expectations_dir else expectations_dir()

    # Shadows pydantic's deprecated BaseModel.validate classmethod (the resource is a pydantic model);
    # the name is this resource's API, which the assets and tests call.
    def validate(  # type: ignore[override]
        self,
        url: str,
        feeds: Iterable[Feed],
        *,
        log: Callable[[str], None] | None = None,
        force: bool = False,
        full: bool | None = None,
    ) -> list[SuiteOutcome]:
        """`full` None follows `full_revalidation`; callers that only need fresh results pass False."""
        full = self.full_revalidation if full is None else full
        return validate_feeds(url, feeds, directory=self.directory(), force=force, full=full, log=log)

    def validate_marts(
        self,
        url: str,
        relations: Iterable[str] | None = None,
        *,
        log: Callable[[str], None] | None = None,
    ) -> list[SuiteOutcome]:
        """The mart suites (hand-written files under gx/expectations/<schema>/) of built relations."""
        return validate_marts(url, directory=self.directory(), relations=relations, log=log)

    def check_results(self, outcomes: Iterable[SuiteOutcome]) -> list[dg.AssetCheckResult]:
        """Every outcome as its feed's asset checks: one per severity present in the suite."""
        return [
            check_result(outcome, severity)
            for outcome in outcomes
            for severity in CHECK_OF_SEVERITY
            if outcome.of_severity(severity)
        ]
