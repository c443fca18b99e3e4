"""The exceptions table and the blocking gate.

- `quality/inventory_exceptions` rebuilds quality.inventory_exceptions from every source of
  findings (orchestration/lib/quality/exceptions.py). It validates the suites first; when the raw
  checks already ran in the run, that is a lookup (the suites' inputs did not change).
  Its column schema is the table's DDL (lib/quality/schema.py, each column's comment its
  description); its checks (EXCEPTION_CHECKS) evaluate what the DDL's constraints cannot state,
  in SQL on the table, after each build.
- `quality/blocking_gate` carries the Dagster *blocking* check `no_failed_blocking_expectations`:
  it fails with ERROR while any expectation of blocking severity fails in the latest validation
  of its suite. Replenishment and finance assets declare `deps=[BLOCKING_GATE_KEY]`, so Dagster
  does not materialize them in a run where the gate fails; the ops assets depend on the
  exceptions table only and keep running.
"""

import time
from collections.abc import Iterator

import dagster as dg
import psycopg

from orchestration.defs.ingestion.assets import UNROUTED_KEY, raw_asset_key
from orchestration.defs.quality.resources import GreatExpectationsValidator
from orchestration.defs.resources import Warehouse
from orchestration.lib.feeds import FEEDS
from orchestration.lib.quality.exceptions import DEFAULT_OWNER_TEAM, build_inventory_exceptions
from orchestration.lib.quality.schema import ddl_columns, ensure_quality_schema
from orchestration.lib.quality.settings import load_owner_teams

INVENTORY_EXCEPTIONS_KEY = dg.AssetKey(["quality", "inventory_exceptions"])
BLOCKING_GATE_KEY = dg.AssetKey(["quality", "blocking_gate"])
GATE_CHECK = "no_failed_blocking_expectations"
GX_SECONDS_METADATA = "great_expectations_seconds"
# dbt relations the exceptions read, built before them: the rule findings (NEGATIVE_ON_HAND,
# OVERSOLD, ...), the incremental duplicate-event scan and the owner-team seed.
DBT_RULE_FINDINGS_DEPS: tuple[dg.AssetKey, ...] = (
    dg.AssetKey(["quality", "quality_rule_findings"]),
    dg.AssetKey(["staging", "stg_raw__duplicate_events"]),
    dg.AssetKey(["quality", "exception_owner_teams"]),
)


def exceptions_column_schema() -> dg.TableSchema:
    """quality.inventory_exceptions as its DDL creates it (lib/quality/schema.py)."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=column.type,
                description=column.description,
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=column.unique, other=list(column.checks)
                ),
            )
            for column in ddl_columns("inventory_exceptions")
        ]
    )


# The exceptions table's checks: what the contract promises and its DDL cannot enforce (the key,
# the severity and status sets and the not-null columns are constraints of the table). Each SQL
# selects the exception_id of every violating row; %(teams)s is the owner teams the seed knows.
EXCEPTION_CHECKS: dict[str, tuple[str, str]] = {
    "open_exceptions_have_a_known_owner_team": (
        "Every open exception's owner_team is a team of dbt_project/seeds/exception_owner_teams.csv "
        f"(or {DEFAULT_OWNER_TEAM}, the fallback).",
        "select exception_id from quality.inventory_exceptions"
        " where status = 'open' and not (owner_team = any(%(teams)s))",
    ),
    "lifecycle_times_in_order": (
        "first_seen_at <= detected_at <= last_seen_at on every exception (a re-opened one keeps "
        "first_seen_at; detected_at is the current episode's start).",
        "select exception_id from quality.inventory_exceptions"
        " where not (first_seen_at <= detected_at and detected_at <= last_seen_at)",
    ),
    "status_matches_the_history": (
        "Each exception's status agrees with its latest transition in "
        "quality.inventory_exception_history (opened or reopened: open; resolved: resolved).",
        # set-based (one pass over the history), not a lookup per exception: ~50 ms at 50,000
        "select e.exception_id from quality.inventory_exceptions e"
        " left join (select distinct on (exception_id) exception_id, transition"
        "   from quality.inventory_exception_history order by exception_id, history_id desc) last"
        " using (exception_id)"
        " where last.transition is null"
        " or (e.status = 'open') <> (last.transition in ('opened', 'reopened'))",
    ),
}
SAMPLE_IDS = 5


def evaluate_exception_checks(conn: psycopg.Connection) -> list[dg.AssetCheckResult]:
    """Run EXCEPTION_CHECKS on the table: each fails (ERROR) naming up to SAMPLE_IDS violating ids."""
    teams = sorted({rule.owner_team for rule in load_owner_teams()} | {DEFAULT_OWNER_TEAM})
    results = []
    for name, (_, query) in EXCEPTION_CHECKS.items():
        row = conn.execute(
            f"select count(*), (array_agg(exception_id order by exception_id))[1:{SAMPLE_IDS}]"
            f" from ({query}) violations",
            {"teams": teams},
        ).fetchone()
        violations, sample = (row[0], row[1] or []) if row else (0, [])
        results.append(
            dg.AssetCheckResult(
                asset_key=INVENTORY_EXCEPTIONS_KEY,
                check_name=name,
                passed=violations == 0,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"violations": violations, "sample_exception_ids": dg.MetadataValue.json(sample)},
            )
        )
    return results


def build_inventory_exceptions_asset(extra_deps: tuple[dg.AssetKey, ...] = ()) -> dg.AssetsDefinition:
    @dg.asset(
        key=INVENTORY_EXCEPTIONS_KEY,
        deps=[*(raw_asset_key(feed) for feed in FEEDS), UNROUTED_KEY, *extra_deps],
        group_name="quality",
        kinds={"postgres"},
        owners=["team:integration"],
        description="One row per data-quality finding of any source (quarantined files, duplicate events, "
        "out-of-order snapshots, Great Expectations failures, dbt rules) with a stable exception_id and "
        "an open/resolved lifecycle (docs/quality.md).",
        metadata={
            "dagster/table_name": "quality.inventory_exceptions",
            "dagster/column_schema": exceptions_column_schema(),
        },
        check_specs=[
            dg.AssetCheckSpec(name, asset=INVENTORY_EXCEPTIONS_KEY, description=description)
            for name, (description, _) in EXCEPTION_CHECKS.items()
        ],
    )
    def inventory_exceptions(
        context: dg.AssetExecutionContext,
        warehouse: Warehouse,
        great_expectations: GreatExpectationsValidator,
    ) -> Iterator:
        url = warehouse.url()
        started = time.monotonic()
        # Fresh results only: a full re-validation is the raw checks' job, not repeated here.
        great_expectations.validate(url, FEEDS, log=context.log.info, full=False)
        # The marts' suites too: their checks may run after this asset in the same run.
        great_expectations.validate_marts(url, log=context.log.info)
        validation_seconds = time.monotonic() - started
        report = build_inventory_exceptions(url, great_expectations.directory())
        if report.unmapped_types:
            context.log.warning(
                f"no owner team for {', '.join(report.unmapped_types)} in dbt_project/seeds/exception_owner_teams.csv: "
                "assigned to integration"
            )
        yield dg.MaterializeResult(
            metadata={
                "as_of": report.as_of.isoformat() if report.as_of else "nothing loaded",
                # how much of this step was Great Expectations (benchmarks/scale.py reports it as GX)
                GX_SECONDS_METADATA: round(validation_seconds, 3),
                "current_findings": sum(report.current_by_type.values()),
                "findings_by_type": dg.MetadataValue.json(report.current_by_type),
                "opened": report.opened,
                "reopened": report.reopened,
                "resolved": report.resolved,
                "open_exceptions": report.open_total,
                "open_blocking_exceptions": report.open_blocking,
                "dbt_rule_findings": report.dbt_findings,
                "duplicate_events_from": report.duplicate_events_from,
                "acknowledged_findings": report.acknowledged,
            }
        )
        with psycopg.connect(url) as conn:
            yield from evaluate_exception_checks(conn)

    return inventory_exceptions


def failed_blocking_expectations(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        ensure_quality_schema(conn)
        return conn.execute(
            "select suite, check_name, exception_type, unexpected_count, error"
            " from quality.failed_blocking_expectations order by suite, check_name"
        ).fetchall()


@dg.asset(
    key=BLOCKING_GATE_KEY,
    deps=[INVENTORY_EXCEPTIONS_KEY],
    group_name="quality",
    kinds={"postgres"},
    owners=["team:integration"],
    description="Gate of replenishment and finance: its blocking check fails while a Great Expectations "
    "expectation of blocking severity fails (view quality.failed_blocking_expectations).",
    metadata={"dagster/table_name": "quality.failed_blocking_expectations"},
    check_specs=[
        dg.AssetCheckSpec(
            GATE_CHECK,
            asset=BLOCKING_GATE_KEY,
            blocking=True,
            description="No expectation of blocking severity fails; when one does, assets that depend on "
            "quality/blocking_gate (replenishment, finance) do not materialize in the run.",
        )
    ],
)
def blocking_gate(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator:
    failures = failed_blocking_expectations(warehouse.url())
    listing = "\n".join(
        f"- {suite}.{check} ({exception_type}): {count} unexpected{f', error: {error}' if error else ''}"
        for suite, check, exception_type, count, error in failures
    )
    if failures:
        context.log.error(f"blocking expectations failing:\n{listing}")
    metadata: dict[str, int | dg.MetadataValue] = {
        "failed_blocking_expectations": len(failures),
        "failures": dg.MetadataValue.md(listing or "none"),
    }
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=GATE_CHECK, passed=not failures, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata
    )


# The AI anomalies become ANOMALY_<type> exceptions (orchestration/defs/ai).
AI_ANOMALIES_KEY = dg.AssetKey(["ai", "anomalies"])
inventory_exceptions = build_inventory_exceptions_asset((*DBT_RULE_FINDINGS_DEPS, AI_ANOMALIES_KEY))
QUALITY_ASSETS: list[dg.AssetsDefinition] = [inventory_exceptions, blocking_gate]
