"""expectations/config.yml and the owner-team seed (dbt_project/seeds/exception_owner_teams.csv),
parsed and checked.

Both files are meant to be edited by a data engineer; a mistake in them must stop the generator
or the run with a message naming the file and the entry, not surface later as a strange finding.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestration.lib.feeds import FEEDS_BY_ID, Feed
from orchestration.lib.settings import DBT_PROJECT_DIR, EXPECTATIONS_DIR

SEVERITIES = ("blocking", "warning")
CONFIG_FILE = "config.yml"
# The owner team of each exception type: a dbt seed (quality.exception_owner_teams), the one copy.
OWNER_TEAMS_SEED = DBT_PROJECT_DIR / "seeds" / "exception_owner_teams.csv"
ANY_FEED = "*"


class QualityConfigError(ValueError):
    """A data-quality setting file is invalid."""


def expectations_dir() -> Path:
    """The expectations folder; OMNI_EXPECTATIONS_DIR points elsewhere (tests, experiments)."""
    override = os.environ.get("OMNI_EXPECTATIONS_DIR")
    return Path(override).resolve() if override else EXPECTATIONS_DIR


@dataclass(frozen=True)
class QualitySettings:
    sla_overrides: dict[str, int]
    exception_severity: dict[str, str]
    max_failing_keys: int
    raw_checks_block_downstream: bool
    dbt_findings_relation: str

    def sla_minutes(self, feed: Feed) -> int:
        return self.sla_overrides.get(feed.feed_id, feed.sla_minutes)

    def severity_of(self, exception_type: str) -> str:
        try:
            return self.exception_severity[exception_type]
        except KeyError:
            raise QualityConfigError(
                f"{CONFIG_FILE}: exception_severity has no entry for {exception_type}"
            ) from None


def _mapping(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise QualityConfigError(f"{CONFIG_FILE}: {key} must be a mapping")
    return value


def load_quality_settings(directory: Path | None = None) -> QualitySettings:
    path = (directory or expectations_dir()) / CONFIG_FILE
    data = yaml.safe_load(path.read_text()) or {}
    slas = {str(k): v for k, v in _mapping(data, "freshness_sla_minutes").items()}
    for feed_id, minutes in slas.items():
        if feed_id not in FEEDS_BY_ID:
            raise QualityConfigError(f"{path}: freshness_sla_minutes names unknown feed {feed_id!r}")
        if not isinstance(minutes, int) or minutes <= 0:
            raise QualityConfigError(f"{path}: freshness_sla_minutes.{feed_id} must be a positive integer")
    severity = {str(k): str(v) for k, v in _mapping(data, "exception_severity").items()}
    for exception_type, value in severity.items():
        if value not in SEVERITIES:
            raise QualityConfigError(
                f"{path}: exception_severity.{exception_type} is {value!r}; use one of {', '.join(SEVERITIES)}"
            )
    validation = _mapping(data, "validation")
    max_keys = validation.get("max_failing_keys", 1000)
    if not isinstance(max_keys, int) or max_keys < 1:
        raise QualityConfigError(f"{path}: validation.max_failing_keys must be a positive integer")
    exceptions = _mapping(data, "exceptions")
    return QualitySettings(
        sla_overrides=slas,
        exception_severity=severity,
        max_failing_keys=max_keys,
        raw_checks_block_downstream=bool(validation.get("raw_checks_block_downstream", False)),
        dbt_findings_relation=str(exceptions.get("dbt_findings_relation", "quality.quality_rule_findings")),
    )


@dataclass(frozen=True)
class OwnerTeamRule:
    exception_type: str
    feed: str  # a feed id, or * for every feed
    owner_team: str
    why: str


def load_owner_teams(path: Path | None = None) -> list[OwnerTeamRule]:
    """The seed's rules, checked (a mistake stops the build naming the file and line)."""
    path = path or OWNER_TEAMS_SEED
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rules: list[OwnerTeamRule] = []
    seen: set[tuple[str, str]] = set()
    for line, row in enumerate(rows, start=2):
        try:
            rule = OwnerTeamRule(
                row["exception_type"].strip(),
                row["feed"].strip(),
                row["owner_team"].strip(),
                row["why"].strip(),
            )
        except (KeyError, AttributeError):
            raise QualityConfigError(
                f"{path}:{line}: expected columns exception_type, feed, owner_team, why"
            ) from None
        if not rule.exception_type or not rule.owner_team:
            raise QualityConfigError(f"{path}:{line}: exception_type and owner_team are required")
        if rule.feed != ANY_FEED and rule.feed not in FEEDS_BY_ID:
            raise QualityConfigError(f"{path}:{line}: unknown feed {rule.feed!r} (use a feed id or *)")
        if (rule.exception_type, rule.feed) in seen:
            raise QualityConfigError(f"{path}:{line}: {rule.exception_type} for {rule.feed} is listed twice")
        seen.add((rule.exception_type, rule.feed))
        rules.append(rule)
    return rules
