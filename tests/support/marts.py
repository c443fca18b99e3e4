"""Helpers of the marts tests: a run of the pipeline in Dagster's order, on dbt in-process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.quality.exceptions import build_inventory_exceptions
from tests.dbt.landing_files import Files
from tests.support.dbt import deliver

# The models that run after the quality gate (the exceptions asset's merge) in the Dagster job.
GATED = "tag:after_quality_gate"


@dataclass
class Pipeline:
    url: str
    landing: Path
    dbt: object

    def run(self, files: Files) -> None:
        """One delivery and one run, in Dagster's order: dbt, exceptions, gated dbt models."""
        deliver(self.url, self.landing, files)
        self.dbt("run", "--exclude", GATED)
        build_inventory_exceptions(self.url)
        self.dbt("build", "--select", GATED, "quality_rule_findings")
