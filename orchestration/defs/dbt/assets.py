"""dbt models as Dagster assets, dbt tests as asset checks.

Asset keys mirror the warehouse relations: `[schema, model]` for models (`["marts",
"inventory_position"]`, `["staging", "stg_pos__sales"]`) and dagster-dbt's default
`[source_name, table]` for sources, i.e. `["raw", "<source>__<feed>"]`, the keys of the ingestion
assets, so each staging model hangs below its feed. dbt tests on models
become asset checks (the raw feeds' checks are their Great Expectations suites, not dbt source
tests); unit tests run inside `dbt build` before their model.

(No `from __future__ import annotations` here: Dagster reads the config annotation at runtime.)
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import psycopg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from psycopg import sql

from orchestration.defs.dbt.project import (
    DBT_PROJECT,
    manifest_is_current,
    manifest_path,
    prepare_manifest,
)
from orchestration.defs.dbt.resource import DbtResource
from orchestration.defs.retry import reporting_outages, warehouse_retry_policy
from orchestration.lib.database import dbt_database_url
from orchestration.lib.table_maintenance import maintain_written_tables

# Dagster pool of the dbt ops (shown in the UI); overlap itself is prevented by dbt_build's lock.
DBT_POOL = "omni_dbt"
# Models tagged so (replenishment, finance; dbt_project.yml) act on data the quality gate passed:
# they belong to the second dbt op (orchestration/defs/dbt/downstream.py), not to this one.
AFTER_QUALITY_GATE = "after_quality_gate"

LAYER_GROUPS = {"staging": "dbt_staging", "intermediate": "dbt_intermediate", "marts": "dbt_marts"}


class OmniDbtTranslator(DagsterDbtTranslator):
    """Keys models by [schema, name] and groups them by layer."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            relation = dbt_resource_props.get("alias") or dbt_resource_props["name"]
            return dg.AssetKey([dbt_resource_props["schema"], relation])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] != "model":
            return super().get_group_name(dbt_resource_props)
        fqn = dbt_resource_props.get("fqn", [])
        layer = fqn[1] if len(fqn) > 2 else None
        return LAYER_GROUPS.get(layer or "", "dbt")


TRANSLATOR = OmniDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_asset_checks=True, enable_source_tests_as_checks=False)
)


class DbtBuildConfig(dg.Config):
    """Run config of the dbt assets."""

    full_refresh: bool = False  # rebuild every incremental table from raw (same result, slower)


def manifest() -> str:
    # Prepared at build/CI time (prepare_manifest); only a missing manifest is parsed here, once.
    if not manifest_path().exists():
        prepare_manifest()
    elif not manifest_is_current():
        dg.get_dagster_logger().warning(
            "dbt manifest is older than the dbt project files: run `python -m orchestration.defs.dbt.project`"
        )
    return str(manifest_path())


# Checked once per code-location load (the check walks every project file), shared by the dbt ops.
MANIFEST = manifest()


@dbt_assets(
    manifest=MANIFEST,
    project=DBT_PROJECT,
    exclude=f"tag:{AFTER_QUALITY_GATE}",
    dagster_dbt_translator=TRANSLATOR,
    name="omni_dbt",
    pool=DBT_POOL,
    retry_policy=warehouse_retry_policy(),
)
def omni_dbt_assets(
    context: dg.AssetExecutionContext, dbt: DbtResource, config: DbtBuildConfig
) -> Iterator[Any]:
    """`dbt build` of the selected models and their data tests (the asset checks).

    dbt unit tests check the SQL, not the data: CI runs them (tests/dbt builds with them), so the
    production builds leave them out and every micro-batch saves their few seconds.
    """
    yield from dbt_build(context, dbt, config)


def dbt_build(context: dg.AssetExecutionContext, dbt: DbtResource, config: DbtBuildConfig) -> Iterator[Any]:
    """`dbt build` of the op's selection, unit tests excluded (see omni_dbt_assets).

    Builds never overlap: the incremental bookkeeping assumes it. A session-level advisory lock
    on the warehouse serialises them across runs and processes, and dies with its holder, so a
    killed run never leaves the next one waiting. A build that succeeded then vacuums and
    analyzes the big tables it wrote past autovacuum's thresholds (lib/table_maintenance.py).
    """
    args = ["build", "--exclude-resource-type", "unit_test"]
    if config.full_refresh:
        args.append("--full-refresh")
    url = dbt_database_url()
    with reporting_outages(url), psycopg.connect(url, autocommit=True) as lock:
        lock.execute("select pg_advisory_lock(hashtext('omni.dbt_build'))")
        yield from dbt.build(context, args)
        # models are keyed [schema, name]; autovacuum's work on what the build wrote, done now
        written = [sql.Identifier(*key.path).as_string(lock) for key in context.selected_asset_keys]
        maintain_written_tables(lock, written, context.log.info, context.log.warning)


dbt_resource = DbtResource()
