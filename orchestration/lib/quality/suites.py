"""Expectation suite files and the meta every expectation carries.

A suite is a Great Expectations 1.x suite file (the JSON GX itself writes) under
`expectations/gx/expectations/`; the suite `raw.pos__inventory` lives in `raw/pos__inventory.json`,
where GX's file context looks for it. On top of GX, every expectation's `meta` says what a failure
means for the platform:

- `check_name`: stable name within the suite (exception ids and check metadata use it);
- `severity`: blocking or warning (GX's own `severity` field mirrors it: critical or warning);
- `exception_type`: the exception a failing key becomes (UNKNOWN_SKU, STALE_FEED, ...);
- `report_keys`: the columns that identify a failing key (GX's unexpected index columns, or the
  columns an UnexpectedRowsExpectation query returns).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.lib.feeds import Feed
from orchestration.lib.quality.settings import SEVERITIES, QualityConfigError

SUITES_SUBDIR = Path("gx") / "expectations"
CUSTOM_SUBDIR = Path("custom")
RAW_SUITE_PREFIX = "raw"
UNEXPECTED_ROWS = "unexpected_rows_expectation"
# GX's own severity field, kept in step with meta.severity so GX tooling shows the same thing.
GX_SEVERITY = {"blocking": "critical", "warning": "warning"}

# GX's map expectations that judge each row on its own columns (`..._to_be_unique` excepted).
ROW_LOCAL_PREFIXES = ("expect_column_values_to_", "expect_column_pair_values_", "expect_multicolumn_")

_CHECK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_EXCEPTION_TYPE = re.compile(r"^[A-Z][A-Z0-9_]*$")


def suite_name(feed: Feed) -> str:
    return f"{RAW_SUITE_PREFIX}.{feed.raw_table}"


def suite_file(directory: Path, name: str) -> Path:
    """Where GX's file context keeps a suite: dots in the name are folders."""
    *folders, stem = name.split(".")
    return directory / SUITES_SUBDIR / Path(*folders, f"{stem}.json")


def custom_file(directory: Path, name: str) -> Path:
    """Hand-written expectations merged into the generated suite of the same name."""
    return directory / CUSTOM_SUBDIR / f"{name}.json"


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, with the platform's meaning of its failure."""

    check_name: str
    type: str
    severity: str
    exception_type: str
    report_keys: tuple[str, ...]
    config: dict[str, Any]

    @property
    def is_sql(self) -> bool:
        """An UnexpectedRowsExpectation: its query returns one row per failing key."""
        return self.type == UNEXPECTED_ROWS

    @property
    def reads_as_of(self) -> bool:
        """Its query reads as_of (the ledger's newest data time, e.g. snapshot_within_sla): its
        result can change when other feeds load, without a new row of its own feed."""
        return self.is_sql and "meta.file_ledger" in self.config.get("kwargs", {}).get(
            "unexpected_rows_query", ""
        )

    @property
    def reads_batch_columns(self) -> frozenset[str] | None:
        """The only batch columns its query reads, when its meta declares them (snapshot_within_sla)."""
        columns = (self.config.get("meta") or {}).get("reads_batch_columns")
        return frozenset(columns) if isinstance(columns, list) else None

    @property
    def has_tolerance(self) -> bool:
        """A `mostly` below 1 lets a row-level expectation pass while some rows fail."""
        mostly = self.config.get("kwargs", {}).get("mostly")
        return mostly is not None and float(mostly) < 1

    @property
    def is_row_local(self) -> bool:
        """Its verdict on a row reads that row only: validating some rows judges exactly those.
        Not so for uniqueness (other rows), a `mostly` tolerance (a share of the batch) or SQL."""
        return (
            self.type.startswith(ROW_LOCAL_PREFIXES) and "unique" not in self.type and not self.has_tolerance
        )

    @property
    def column(self) -> str | None:
        return self.config.get("kwargs", {}).get("column")

    @property
    def description(self) -> str:
        return self.config.get("description") or self.check_name


def parse_rule(config: dict[str, Any], where: str) -> Rule:
    meta = config.get("meta") or {}
    check_name = meta.get("check_name")
    label = f"{where}: expectation {check_name or config.get('type')!r}"
    if not isinstance(check_name, str) or not _CHECK_NAME.match(check_name):
        raise QualityConfigError(f"{label}: meta.check_name must be snake_case")
    severity = meta.get("severity")
    if severity not in SEVERITIES:
        raise QualityConfigError(f"{label}: meta.severity must be one of {', '.join(SEVERITIES)}")
    native = config.get("severity")
    if native is not None and native != GX_SEVERITY[severity]:
        raise QualityConfigError(
            f"{label}: GX severity {native!r} contradicts meta.severity {severity!r}; "
            "set meta.severity only and regenerate"
        )
    exception_type = meta.get("exception_type")
    if not isinstance(exception_type, str) or not _EXCEPTION_TYPE.match(exception_type):
        raise QualityConfigError(f"{label}: meta.exception_type must be UPPER_SNAKE_CASE")
    keys = meta.get("report_keys")
    # An empty list is a feed-level check: at most one finding per feed (e.g. an unscoped snapshot).
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise QualityConfigError(f"{label}: meta.report_keys must be a list of column names")
    if not isinstance(config.get("type"), str):
        raise QualityConfigError(f"{label}: type is missing")
    return Rule(check_name, config["type"], severity, exception_type, tuple(keys), config)


@dataclass(frozen=True)
class Suite:
    name: str
    feed_id: str
    table: str
    # Columns GX returns for every failing row of a row-level expectation (unexpected index).
    index_columns: tuple[str, ...]
    rules: tuple[Rule, ...]
    document: dict[str, Any]
    # Mart suites: the incremental table under the relation, whose `_run_seq` marks the rows each
    # dbt build rewrote; the suite then validates those rows and its open findings' keys only.
    changed_rows_from: str | None = None

    @property
    def digest(self) -> str:
        """Changes whenever the suite does: a changed suite is re-validated from scratch."""
        canonical = json.dumps(self.document, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def rules_of(self, severity: str) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.severity == severity)

    def rule(self, check_name: str) -> Rule:
        for rule in self.rules:
            if rule.check_name == check_name:
                return rule
        raise KeyError(check_name)


def parse_suite(document: dict[str, Any], where: str) -> Suite:
    meta = document.get("meta") or {}
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise QualityConfigError(f"{where}: the suite has no name")
    for key in ("table", "index_columns"):
        if key not in meta:
            raise QualityConfigError(f"{where}: suite meta.{key} is missing")
    rules = tuple(parse_rule(config, where) for config in document.get("expectations", []))
    names = [rule.check_name for rule in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise QualityConfigError(f"{where}: check_name used twice: {', '.join(duplicates)}")
    changed_rows_from = meta.get("changed_rows_from")
    if changed_rows_from is not None:
        if not isinstance(changed_rows_from, str) or "." not in changed_rows_from:
            raise QualityConfigError(f"{where}: meta.changed_rows_from must name a table as schema.name")
        if not meta["index_columns"]:
            raise QualityConfigError(
                f"{where}: meta.changed_rows_from needs meta.index_columns (the row key)"
            )
        not_local = [rule.check_name for rule in rules if not rule.is_row_local]
        if not_local:
            raise QualityConfigError(
                f"{where}: meta.changed_rows_from validates changed rows only, which cannot judge "
                f"{', '.join(not_local)} (not a per-row expectation): remove changed_rows_from or the expectation"
            )
    # A raw suite names its feed; a mart suite validates a dbt relation, which stands in for it.
    feed_id = meta.get("feed") or meta["table"]
    return Suite(
        name, feed_id, meta["table"], tuple(meta["index_columns"]), rules, document, changed_rows_from
    )


def load_suite(directory: Path, name: str) -> Suite:
    path = suite_file(directory, name)
    if not path.exists():
        raise QualityConfigError(
            f"{path} is missing: run `python -m orchestration.lib.expectation_suites` to generate the suites"
        )
    return parse_suite(json.loads(path.read_text()), str(path))


def load_feed_suite(directory: Path, feed: Feed) -> Suite:
    return load_suite(directory, suite_name(feed))


@dataclass(frozen=True)
class MartTarget:
    """What a mart suite validates: a dbt relation, shown in Dagster on the dbt asset [schema, name]."""

    relation: str  # schema.name, also the suite's name
    source: str  # source_system of its findings

    @property
    def feed_id(self) -> str:
        """Findings of a mart suite carry the relation where a raw suite's carry the feed id."""
        return self.relation

    @property
    def asset_key_path(self) -> list[str]:
        return self.relation.split(".")


def load_mart_suites(directory: Path) -> list[Suite]:
    """The hand-written suites of dbt relations: every suite file outside the generated raw/ folder.

    `gx/expectations/<schema>/<name>.json` is the suite `<schema>.<name>` of the relation of the
    same name (meta.table); nothing generates or rewrites these files.
    """
    root = directory / SUITES_SUBDIR
    suites = []
    for path in sorted(root.glob("*/*.json")) if root.exists() else []:
        if path.parent.name == RAW_SUITE_PREFIX:
            continue
        suite = parse_suite(json.loads(path.read_text()), str(path))
        expected = f"{path.parent.name}.{path.stem}"
        if suite.name != expected or suite.table != expected:
            raise QualityConfigError(f"{path}: name and meta.table must both be {expected!r}")
        suites.append(suite)
    return suites


def mart_target(suite: Suite) -> MartTarget:
    return MartTarget(suite.table, str((suite.document.get("meta") or {}).get("source_system") or "dbt"))
