"""Great Expectations suites for the raw feeds, generated from the feed registry.

    .venv/bin/python -m orchestration.lib.expectation_suites [--check]

writes one GX 1.x suite per feed, `expectations/gx/expectations/raw/<source>__<feed>.json` (suite
`raw.<source>__<feed>`), from three inputs:
- the feed registry (orchestration/lib/feeds.py): allowed value sets, non-negative quantities, the
  sku and location columns, snapshot scopes and freshness SLAs;
- expectations/config.yml: SLA overrides and the severity of each exception type;
- expectations/custom/<suite>.json (optional, hand-written): expectations merged into the suite.
  One whose meta.check_name matches a generated expectation replaces it; `"disabled": true` in
  its meta removes it; any other is added after the generated ones.

The generated files are never edited by hand (the generator would overwrite the edit): every
hand edit lives in config.yml or custom/. `--check` exits non-zero when a committed suite differs
from what the inputs render (tests/quality runs it).

Not-null and key checks are not generated: the raw tables declare key columns NOT NULL and the
loader quarantines a file with a null key, so the database carries them for free.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

from orchestration.lib.feeds import FEEDS, Feed
from orchestration.lib.quality.settings import (
    QualityConfigError,
    QualitySettings,
    expectations_dir,
    load_quality_settings,
)
from orchestration.lib.quality.suites import (
    GX_SEVERITY,
    RAW_SUITE_PREFIX,
    SUITES_SUBDIR,
    UNEXPECTED_ROWS,
    custom_file,
    parse_suite,
    suite_file,
    suite_name,
)

GENERATOR = "python -m orchestration.lib.expectation_suites"
# Stable ids: the same suite and check always get the same id, so regenerating changes nothing.
ID_NAMESPACE = uuid.UUID("5b0c2f64-3d1e-4c8e-9a61-0f3f1d8a7c21")
ITEM_MASTER = "raw.erp__items"
LOCATION_MASTER = "raw.erp__locations"
LOCATION_COLUMNS = ("location_id", "from_location_id", "to_location_id")
# Lifecycle and movement states: a value outside the set is INVALID_STATUS, any other set INVALID_VALUE.
STATUS_COLUMNS = ("status", "event_type", "movement_type", "disposition")
SAMPLE_SIZE = 5
AS_OF_SQL = "(select max(max_data_ts) as as_of from meta.file_ledger where status = 'loaded') a"


def index_columns(feed: Feed) -> list[str]:
    """Columns reported for every failing row: the feed's key plus where and what it is about."""
    present = {col.name for col in feed.columns}
    extra = [name for name in ("location_id", "channel_id", "sku") if name in present]
    return list(dict.fromkeys([*feed.key, *extra]))


def _expectation(
    suite: str,
    expectation_type: str,
    kwargs: dict[str, Any],
    description: str,
    *,
    check_name: str,
    exception_type: str,
    report_keys: list[str],
    settings: QualitySettings,
    extra_meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    severity = settings.severity_of(exception_type)
    return {
        "type": expectation_type,
        "kwargs": kwargs,
        "description": description,
        "severity": GX_SEVERITY[severity],
        "meta": {
            "check_name": check_name,
            "severity": severity,
            "exception_type": exception_type,
            "report_keys": report_keys,
            **(extra_meta or {}),
            "source": "generated",
        },
        "id": str(uuid.uuid5(ID_NAMESPACE, f"{suite}/{check_name}")),
    }


def _sql(*lines: str) -> str:
    """One line of SQL: JSON keeps it readable without escaped newlines."""
    return " ".join(line.strip() for line in lines if line.strip())


def _samples(feed: Feed, grouped: str, *others: str) -> str:
    """Counts and samples of what else the failing rows name, so an owner can find them."""
    present = {col.name for col in feed.columns}
    parts = []
    for other in others:
        if other in present:
            parts.append(f"count(distinct b.{other}) as {other}_count")
            parts.append(
                f"(array_agg(distinct b.{other} order by b.{other}))[1:{SAMPLE_SIZE}] as sample_{other}s"
            )
    # The feed's first key column not named yet points at the failing records themselves.
    record = next((k for k in feed.key if k not in (grouped, *others)), None)
    if record:
        parts.append(
            f"(array_agg(distinct b.{record} order by b.{record}))[1:{SAMPLE_SIZE}] as sample_{record}s"
        )
    return "".join(f", {part}" for part in parts)


def unknown_sku(feed: Feed, suite: str, settings: QualitySettings) -> dict[str, Any]:
    # One finding per unknown sku, not per place: a gap in the item master shows everywhere at
    # once, and GX returns at most 200 unexpected rows.
    query = _sql(
        f"select b.sku, count(*) as unexpected_rows{_samples(feed, 'sku', 'location_id', 'channel_id')}",
        "from {batch} b",
        f"left join {ITEM_MASTER} i on i.sku = b.sku",
        f"and i.snapshot_ts = (select max(snapshot_ts) from {ITEM_MASTER})",
        "where i.sku is null",
        "group by b.sku order by b.sku",
    )
    return _expectation(
        suite,
        UNEXPECTED_ROWS,
        {"unexpected_rows_query": query},
        f"Every sku is in the newest snapshot of the ERP item master ({ITEM_MASTER}).",
        check_name="sku_in_item_master",
        exception_type="UNKNOWN_SKU",
        report_keys=["sku"],
        settings=settings,
    )


def unknown_location(feed: Feed, column: str, suite: str, settings: QualitySettings) -> dict[str, Any]:
    query = _sql(
        f"select b.{column}{'' if column == 'location_id' else ' as location_id'}, '{column}' as location_column,"
        " count(*) as unexpected_rows"
        f"{_samples(feed, column, 'sku')}",
        "from {batch} b",
        f"left join {LOCATION_MASTER} l on l.location_id = b.{column}",
        f"and l.snapshot_ts = (select max(snapshot_ts) from {LOCATION_MASTER})",
        f"where l.location_id is null and b.{column} is not null",
        f"group by b.{column} order by b.{column}",
    )
    return _expectation(
        suite,
        UNEXPECTED_ROWS,
        {"unexpected_rows_query": query},
        f"Every {column} is in the newest snapshot of the ERP location master ({LOCATION_MASTER}).",
        check_name=f"{column}_in_location_master",
        exception_type="UNKNOWN_LOCATION",
        report_keys=["location_id"],
        settings=settings,
    )


def stale_snapshot(feed: Feed, suite: str, settings: QualitySettings) -> dict[str, Any]:
    sla = settings.sla_minutes(feed)
    scope = list(feed.scope)
    scoped = ", ".join(f"b.{c}" for c in scope)
    query = _sql(
        f"select {scoped + ', ' if scope else ''}max(b.snapshot_ts) as newest_snapshot_ts, a.as_of, {sla} as sla_minutes",
        f"from {{batch}} b cross join {AS_OF_SQL}",
        f"group by {scoped + ', ' if scope else ''}a.as_of",
        f"having max(b.snapshot_ts) < a.as_of - interval '{sla} minutes'",
        f"order by {scoped}" if scope else "",
    )
    per = f"each {', '.join(scope)}'s" if scope else "the feed's"
    return _expectation(
        suite,
        UNEXPECTED_ROWS,
        {"unexpected_rows_query": query},
        f"{per[0].upper()}{per[1:]} newest snapshot is at most {sla} minutes older than as_of "
        "(the newest data timestamp loaded).",
        check_name="snapshot_within_sla",
        exception_type="STALE_FEED",
        report_keys=scope,
        settings=settings,
        # all it reads of a batch: validation may hand it the newest snapshot_ts of each scope
        extra_meta={"sla_minutes": sla, "reads_batch_columns": [*scope, "snapshot_ts"]},
    )


def generated_expectations(feed: Feed, settings: QualitySettings) -> list[dict[str, Any]]:
    suite = suite_name(feed)
    keys = index_columns(feed)
    rules: list[dict[str, Any]] = []
    for col in feed.columns:
        if col.allowed:
            rules.append(
                _expectation(
                    suite,
                    "expect_column_values_to_be_in_set",
                    {"column": col.name, "value_set": list(col.allowed)},
                    f"{col.name} is one of the contract's values: {', '.join(col.allowed)}.",
                    check_name=f"{col.name}_in_contract_set",
                    exception_type="INVALID_STATUS" if col.name in STATUS_COLUMNS else "INVALID_VALUE",
                    report_keys=keys,
                    settings=settings,
                )
            )
    for col in feed.columns:
        if col.non_negative:
            rules.append(
                _expectation(
                    suite,
                    "expect_column_values_to_be_between",
                    {"column": col.name, "min_value": 0},
                    f"{col.name} is never negative.",
                    check_name=f"{col.name}_not_negative",
                    exception_type="NEGATIVE_QUANTITY",
                    report_keys=keys,
                    settings=settings,
                )
            )
    names = {col.name for col in feed.columns}
    if "sku" in names and feed.feed_id != "erp/items":
        rules.append(unknown_sku(feed, suite, settings))
    if feed.feed_id != "erp/locations":
        rules += [unknown_location(feed, c, suite, settings) for c in LOCATION_COLUMNS if c in names]
    if feed.kind == "snapshot":
        rules.append(stale_snapshot(feed, suite, settings))
    return rules


def _custom_expectations(directory: Path, suite: str) -> list[dict[str, Any]]:
    path = custom_file(directory, suite)
    if not path.exists():
        return []
    document = json.loads(path.read_text())
    entries = document.get("expectations") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise QualityConfigError(f"{path}: expected an object with a list `expectations`")
    for entry in entries:
        if not isinstance((entry.get("meta") or {}).get("check_name"), str):
            raise QualityConfigError(f"{path}: every expectation needs meta.check_name")
    return entries


def _merge(generated: list[dict[str, Any]], custom: list[dict[str, Any]], suite: str) -> list[dict[str, Any]]:
    merged = {rule["meta"]["check_name"]: rule for rule in generated}
    for entry in custom:
        meta = dict(entry.get("meta") or {})
        name = meta["check_name"]
        if meta.get("disabled"):
            merged.pop(name, None)
            continue
        severity = meta.get("severity")
        rule = {
            **entry,
            "severity": GX_SEVERITY.get(severity, severity) if severity is not None else None,
            "meta": {**meta, "source": "custom"},
            "id": str(uuid.uuid5(ID_NAMESPACE, f"{suite}/{name}")),
        }
        merged[name] = rule
    return list(merged.values())


def _batch_description(feed: Feed) -> str:
    if feed.kind == "event":
        return "rows of loads not validated yet, plus the rows of this suite's open findings"
    if feed.scope:
        return f"the newest snapshot of each {', '.join(feed.scope)}"
    return "the newest snapshot of the feed"


def render_suite(feed: Feed, settings: QualitySettings, directory: Path) -> dict[str, Any]:
    suite = suite_name(feed)
    custom = custom_file(directory, suite).relative_to(directory)
    document = {
        "name": suite,
        "id": str(uuid.uuid5(ID_NAMESPACE, suite)),
        "meta": {
            "feed": feed.feed_id,
            "table": f"raw.{feed.raw_table}",
            "batch": _batch_description(feed),
            "index_columns": index_columns(feed),
            "generated_by": f"{GENERATOR} from orchestration/lib/feeds.py, expectations/config.yml "
            f"and expectations/{custom.as_posix()}",
            "edit": f"Do not edit this file: edit expectations/config.yml or expectations/{custom.as_posix()} "
            "and regenerate (docs/quality.md).",
        },
        "notes": None,
        "expectations": _merge(
            generated_expectations(feed, settings), _custom_expectations(directory, suite), suite
        ),
    }
    # Fail here, not at run time, when a hand-written expectation lacks the meta the runner needs.
    parse_suite(document, str(custom_file(directory, suite)))
    return document


def render_all(directory: Path) -> dict[Path, str]:
    settings = load_quality_settings(directory)
    rendered = {
        suite_file(directory, suite_name(feed)): json.dumps(render_suite(feed, settings, directory), indent=2)
        + "\n"
        for feed in FEEDS
    }
    known = {suite_name(feed) for feed in FEEDS}
    custom_dir = directory / "custom"
    for path in sorted(custom_dir.glob("*.json")) if custom_dir.exists() else []:
        if path.stem not in known:
            raise QualityConfigError(f"{path}: no generated suite named {path.stem}")
    return rendered


def _orphans(directory: Path, rendered: dict[Path, str]) -> list[Path]:
    """Generated suite files of feeds that no longer exist."""
    folder = directory / SUITES_SUBDIR / RAW_SUITE_PREFIX
    return [p for p in sorted(folder.glob("*.json")) if p not in rendered] if folder.exists() else []


def stale_files(directory: Path) -> list[Path]:
    rendered = render_all(directory)
    stale = [p for p, text in rendered.items() if not p.exists() or p.read_text() != text]
    return stale + _orphans(directory, rendered)


def write_suites(directory: Path) -> list[Path]:
    rendered = render_all(directory)
    for orphan in _orphans(directory, rendered):
        orphan.unlink()
    written = []
    for path, text in rendered.items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed suite is stale")
    parser.add_argument("--dir", type=Path, default=None, help="expectations folder [default: expectations/]")
    args = parser.parse_args(argv)
    directory = (args.dir or expectations_dir()).resolve()
    try:
        if args.check:
            stale = stale_files(directory)
            for path in stale:
                print(f"stale: {path.relative_to(directory)}")
            if stale:
                print(f"regenerate with: {GENERATOR}")
            return 1 if stale else 0
        for path in write_suites(directory):
            print(f"wrote {path.relative_to(directory)}")
    except QualityConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
