"""dbt models that run after the quality layer: replenishment and finance, and the ops metrics.

They are tagged `after_quality_gate` (per folder in dbt_project.yml), which keeps them out of the
first dbt op, because they read `quality.inventory_exceptions`, which is built from the first op's
findings.

- Replenishment and finance are the second dbt op and depend on `quality/blocking_gate`, whose
  blocking check makes Dagster skip them in a run where a blocking expectation failed, so planners
  and finance never act on data known to be bad.
- The ops marts (also tagged `process_metrics`) are a third dbt op below the exceptions asset only
  (their source lineage): latency, exception backlog and oversell figures matter most exactly when
  the gate fails, so they keep running.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, dbt_assets

from orchestration.defs.dbt.assets import (
    AFTER_QUALITY_GATE,
    DBT_POOL,
    MANIFEST,
    DbtBuildConfig,
    OmniDbtTranslator,
    dbt_build,
)
from orchestration.defs.dbt.resource import DbtResource
from orchestration.defs.quality.assets import BLOCKING_GATE_KEY
from orchestration.defs.retry import warehouse_retry_policy

# Models after the quality layer that do not wait for the gate (the ops marts).
PROCESS_METRICS = "process_metrics"


class GatedDbtTranslator(OmniDbtTranslator):
    """Adds the quality gate as an upstream of every gated model."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        tags = node.get("tags", ())
        if AFTER_QUALITY_GATE in tags and PROCESS_METRICS not in tags:
            return spec.merge_attributes(deps=[BLOCKING_GATE_KEY])
        return spec


def gated_dbt_assets(name: str, select: str, exclude: str | None = None) -> dg.AssetsDefinition:
    """A dbt op of models that run after the quality layer (see the module docstring)."""

    @dbt_assets(
        manifest=MANIFEST,  # no `project=` (see omni_dbt_assets)
        select=select,
        exclude=exclude,
        dagster_dbt_translator=GatedDbtTranslator(
            settings=DagsterDbtTranslatorSettings(
                enable_asset_checks=True, enable_source_tests_as_checks=False
            )
        ),
        name=name,
        pool=DBT_POOL,
        retry_policy=warehouse_retry_policy(),
    )
    def _assets(context: dg.AssetExecutionContext, dbt: DbtResource, config: DbtBuildConfig) -> Iterator[Any]:
        yield from dbt_build(context, dbt, config)

    return _assets


omni_dbt_after_quality_gate = gated_dbt_assets(
    "omni_dbt_after_quality_gate", select=f"tag:{AFTER_QUALITY_GATE}", exclude=f"tag:{PROCESS_METRICS}"
)
omni_dbt_process_metrics = gated_dbt_assets("omni_dbt_process_metrics", select=f"tag:{PROCESS_METRICS}")
