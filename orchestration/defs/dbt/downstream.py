"""dbt models that act on checked data: replenishment and finance, after the quality gate.

They are a second dbt op (tag `after_quality_gate`, set per folder in dbt_project.yml) because
they read `quality.inventory_exceptions`, which is built from the first op's findings; and they
depend on `quality/blocking_gate`, whose blocking check makes Dagster skip them in a run where a
blocking expectation failed, so planners and finance never act on data known to be bad.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.defs.dbt.assets import (
    AFTER_QUALITY_GATE,
    DBT_POOL,
    DbtBuildConfig,
    OmniDbtTranslator,
    dbt_build,
    manifest,
)
from orchestration.defs.dbt.project import DBT_PROJECT
from orchestration.defs.quality.assets import BLOCKING_GATE_KEY


class GatedDbtTranslator(OmniDbtTranslator):
    """Adds the quality gate as an upstream of every gated model."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest.get("nodes", {}).get(unique_id, {})
        if AFTER_QUALITY_GATE in node.get("tags", ()):
            return spec.merge_attributes(deps=[BLOCKING_GATE_KEY])
        return spec


@dbt_assets(
    manifest=manifest(),
    project=DBT_PROJECT,
    select=f"tag:{AFTER_QUALITY_GATE}",
    dagster_dbt_translator=GatedDbtTranslator(
        settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=False)
    ),
    name="omni_dbt_after_quality_gate",
    pool=DBT_POOL,
)
def omni_dbt_after_quality_gate(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig
) -> Iterator[Any]:
    yield from dbt_build(context, dbt, config)
