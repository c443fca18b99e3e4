"""Run one suite against one batch with Great Expectations, and turn its results into findings.

GX is used as GX 1.x intends: an ephemeral data context (nothing is written to the expectations
folder), a PostgreSQL data source on a SQLAlchemy URL, a table asset with a whole-table batch
definition per batch view, and a validation definition per suite. GX's Postgres data source
wants a TCP SQLAlchemy URL; `sqlalchemy_url` turns the warehouse URL into a psycopg2 one.

Failing keys come from GX itself: for row-level expectations, the unexpected index list
(result_format COMPLETE with `unexpected_index_column_names` = the suite's index columns); for
UnexpectedRowsExpectation, the rows its query returns (GX returns at most 200 of them).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orchestration.lib.database import sqlalchemy_url
from orchestration.lib.quality.batches import Batch
from orchestration.lib.quality.suites import Rule, Suite

if TYPE_CHECKING:
    from great_expectations.core import ExpectationValidationResult

DATASOURCE = "warehouse"
SAMPLE_KEYS = 10
_import_thread: threading.Thread | None = None


def import_great_expectations() -> None:
    """Import GX (seconds of CPU), with its usage statistics off: GX phones home unless told not to."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    importlib.import_module("great_expectations")


def prefetch_great_expectations() -> None:
    """Start importing GX in the background: it takes seconds of CPU, and the caller has database
    work to wait on meanwhile (the snapshot index, the batches). GxSession waits for it."""
    global _import_thread
    if "great_expectations" in sys.modules or _import_thread is not None:
        return
    _import_thread = threading.Thread(target=import_great_expectations, name="gx-import", daemon=True)
    _import_thread.start()


def json_safe(value: Any) -> Any:
    """Values as JSON carries them: timestamps ISO 8601, decimals as numbers."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


@dataclass(frozen=True)
class Finding:
    """One failing key of one expectation."""

    key_values: dict[str, Any]
    location_id: str | None
    sku: str | None
    details: dict[str, Any]


@dataclass
class RuleResult:
    rule: Rule
    success: bool
    unexpected_count: int
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None

    @property
    def truncated(self) -> bool:
        """GX listed fewer failing keys than it counted (the 200-row or max_failing_keys cap)."""
        return self.error is None and self.unexpected_count > len(self.findings)


def _error_of(result: ExpectationValidationResult) -> str | None:
    info = result.exception_info or {}
    candidates = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in candidates:
        if entry.get("raised_exception"):
            return str(entry.get("exception_message") or "expectation raised an exception")
    return None


def _location_and_sku(row: dict[str, Any]) -> tuple[str | None, str | None]:
    location, sku = row.get("location_id"), row.get("sku")
    return (str(location) if location is not None else None, str(sku) if sku is not None else None)


def _row_findings(rule: Rule, rows: list[dict[str, Any]]) -> list[Finding]:
    """UnexpectedRowsExpectation: each row is one failing key; its other columns are details."""
    findings = []
    for raw in rows:
        row = json_safe(raw)
        keys = {k: row.get(k) for k in rule.report_keys}
        details = {k: v for k, v in row.items() if k not in rule.report_keys}
        location, sku = _location_and_sku(row)
        findings.append(Finding(keys, location, sku, details))
    return findings


def _index_findings(rule: Rule, entries: list[dict[str, Any]]) -> list[Finding]:
    """Row-level expectation: GX's unexpected index entries, merged per report key."""
    column = rule.column
    merged: dict[str, tuple[dict[str, Any], list[Any]]] = {}
    for raw in entries:
        entry = json_safe(raw)
        keys = {k: entry.get(k) for k in rule.report_keys}
        token = json.dumps(keys, sort_keys=True)
        merged.setdefault(token, (keys, []))[1].append(entry.get(column) if column else None)
    findings = []
    for keys, values in merged.values():
        details = {"column": column, "unexpected_values": sorted(set(values), key=repr), "rows": len(values)}
        location, sku = _location_and_sku(keys)
        findings.append(Finding(keys, location, sku, details))
    return findings


def parse_result(rule: Rule, result: ExpectationValidationResult) -> RuleResult:
    error = _error_of(result)
    if error:
        return RuleResult(rule, False, 0, error=error)
    payload = result.result or {}
    if rule.is_sql:
        rows = (payload.get("details") or {}).get("unexpected_rows") or []
        findings = _row_findings(rule, rows)
        count = int(payload.get("observed_value") or 0)
    else:
        entries = payload.get("unexpected_index_list") or payload.get("partial_unexpected_index_list") or []
        findings = _index_findings(rule, entries)
        count = int(payload.get("unexpected_count") or 0)
    findings.sort(key=lambda f: json.dumps(f.key_values, sort_keys=True, default=str))
    return RuleResult(rule, bool(result.success), count, findings)


class GxSession:
    """One ephemeral GX context and one PostgreSQL data source, reused for every suite of a run."""

    def __init__(self, url: str) -> None:
        # GX phones home unless told not to, and imports slowly: both only when a suite must run.
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        started = time.monotonic()
        if _import_thread is not None:
            _import_thread.join()
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self._gx = gx
        # What this session waited for the import (less than the import when it was prefetched).
        self.import_seconds = time.monotonic() - started
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        self.datasource = self.context.data_sources.add_postgres(
            DATASOURCE, connection_string=sqlalchemy_url(url)
        )

    def validate(
        self,
        suite: Suite,
        batch: Batch,
        max_failing_keys: int,
        parameters: dict[str, Any] | None = None,
    ) -> list[RuleResult]:
        """Each expectation at the lowest price GX offers for its failing keys.

        - UnexpectedRowsExpectation: GX runs its query twice (count, then rows) whatever the result
          format, so these run once with COMPLETE and their rows are kept.
        - Row-level expectations: BOOLEAN_ONLY answers all of them with one aggregate query, while
          COMPLETE adds two scans each (values and failing keys). Most pass on most runs, so only
          the failing ones (and those with a `mostly` tolerance, which pass with failing rows) are
          run again with COMPLETE.

        `parameters` are GX suite parameters: an expectation's `{"$PARAMETER": "name"}` kwargs
        (mart suites take the dbt project's vars, e.g. the reconciliation tolerance).
        """
        complete = {
            "result_format": "COMPLETE",
            "unexpected_index_column_names": list(suite.index_columns),
            "partial_unexpected_count": max_failing_keys,
            "return_unexpected_index_query": False,
        }
        sql_rules = [rule for rule in suite.rules if rule.is_sql]
        row_rules = [rule for rule in suite.rules if not rule.is_sql]
        asset = self.datasource.add_table_asset(suite.name, table_name=batch.view, schema_name=batch.schema)
        try:
            batch_definition = asset.add_batch_definition_whole_table("current")
            results: dict[str, RuleResult] = {}
            if sql_rules:
                results |= self._run(f"{suite.name}.sql", sql_rules, batch_definition, complete, parameters)
            if row_rules:
                verdicts = self._run(
                    f"{suite.name}.rows",
                    row_rules,
                    batch_definition,
                    {"result_format": "BOOLEAN_ONLY"},
                    parameters,
                )
                results |= verdicts
                detailed = [
                    rule
                    for rule in row_rules
                    if verdicts[rule.check_name].error is None
                    and (not verdicts[rule.check_name].success or rule.has_tolerance)
                ]
                if detailed:
                    results |= self._run(
                        f"{suite.name}.failing", detailed, batch_definition, complete, parameters
                    )
        finally:
            self.datasource.delete_asset(suite.name)
        return [results[rule.check_name] for rule in suite.rules]

    def _run(
        self,
        name: str,
        rules: tuple[Rule, ...] | list[Rule],
        batch_definition: Any,
        result_format: dict[str, Any],
        parameters: dict[str, Any] | None = None,
    ) -> dict[str, RuleResult]:
        gx = self._gx
        expectation_suite = gx.ExpectationSuite(name=name, expectations=[rule.config for rule in rules])
        if len(expectation_suite.expectations) != len(rules):
            # GX logs and drops an expectation it cannot parse; a silently smaller suite is a lie.
            accepted = {(e.meta or {}).get("check_name") for e in expectation_suite.expectations}
            rejected = [r.check_name for r in rules if r.check_name not in accepted]
            raise ValueError(f"suite {name}: GX rejected expectation(s) {', '.join(rejected)}")
        self.context.suites.add_or_update(expectation_suite)
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=expectation_suite)
        )
        result = definition.run(result_format=result_format, expectation_parameters=parameters)
        by_name = {rule.check_name: rule for rule in rules}
        parsed = {}
        for r in result.results:
            # each result carries the configuration of the expectation it ran
            assert r.expectation_config is not None, "a validation result without its expectation"
            rule = by_name[(r.expectation_config.meta or {})["check_name"]]
            parsed[rule.check_name] = parse_result(rule, r)
        return parsed

    def close(self) -> None:
        engine = getattr(self.datasource.get_execution_engine(), "engine", None)
        if engine is not None:
            engine.dispose()
