"""dbt models as Dagster assets, dbt tests as asset checks.

Asset keys mirror the warehouse relations: `[schema, model]` for models (`["marts",
"inventory_position"]`, `["staging", "stg_pos__sales"]`) and dagster-dbt's default
`[source_name, table]` for sources, i.e. `["raw", "<source>__<feed>"]`, the keys of the ingestion
assets, so each staging model hangs below its feed. dbt tests on models
become asset checks (the raw feeds' checks are their Great Expectations suites, not dbt source
tests); unit tests run inside `dbt build` before their model.

(No `from __future__ import annotations` here: Dagster reads the config annotation at runtime.)
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import psycopg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from psycopg import sql

from orchestration.defs.dbt.project import manifest_is_current, manifest_path, prepare_manifest
from orchestration.defs.dbt.resource import DbtResource
from orchestration.defs.retry import reporting_outages, warehouse_retry_policy
from orchestration.lib.build_lock import reporting_blocked_build, take_build_lock
from orchestration.lib.database import dbt_database_url
from orchestration.lib.settings import DBT_PROJECT_DIR
from orchestration.lib.table_maintenance import maintain_written_tables

# Dagster pool of the dbt ops (shown in the UI); overlap itself is prevented by dbt_build's lock.
DBT_POOL = "omni_dbt"
# Models tagged so (replenishment, finance; dbt_project.yml) act on data the quality gate passed:
# they belong to the second dbt op (orchestration/defs/dbt/downstream.py), not to this one.
AFTER_QUALITY_GATE = "after_quality_gate"

# Assets are grouped by business area, as the Dagster UI's asset graph shows them (the areas of
# definitions.py): a dbt model by the folder below its layer (models/<layer>/<area>/), staging
# as part of ingestion, sources by what writes them.
AREA_OF_FOLDER = {
    "availability": "availability",
    "channel": "availability",
    "inventory": "inventory",
    "locations": "inventory",
    "oms": "inventory",
    "supply": "inventory",
    "replenishment": "replenishment",
    "finance": "finance",
    "ops": "ops",
    "quality": "quality",
    "ai": "ai",
}
AREA_OF_SOURCE = {
    "meta": "ingestion",
    "dbt_bookkeeping": "ops",
    "quality": "quality",
    "channel_sync": "availability",
}
# The team answering for an area's assets when the model's YAML names none (meta.owner).
AREA_OWNERS = {
    "ingestion": "integration",
    "inventory": "analytics_engineering",
    "availability": "analytics_engineering",
    "quality": "integration",
    "replenishment": "supply_planning",
    "finance": "finance",
    "ops": "platform",
    "ai": "analytics_engineering",
}


def business_area(dbt_resource_props: Mapping[str, Any]) -> str:
    """The area of a model, seed or source (see AREA_OF_FOLDER)."""
    if dbt_resource_props["resource_type"] == "source":
        return AREA_OF_SOURCE.get(dbt_resource_props["source_name"], "ingestion")
    if dbt_resource_props["resource_type"] == "seed":
        return "quality"  # the one seed routes exceptions to their owner teams
    fqn = dbt_resource_props.get("fqn", [])  # [project, layer, area..., name]
    layer = fqn[1] if len(fqn) > 2 else ""
    if layer == "staging":
        return "ingestion"
    folders = fqn[1:-1]
    for folder in reversed(folders):
        if folder in AREA_OF_FOLDER:
            return AREA_OF_FOLDER[folder]
    return "inventory"


def check_description(test: Mapping[str, Any]) -> str:
    """What a dbt data test checks, in words, for the UI's asset check (its YAML description first)."""
    own = test.get("description") or test.get("meta", {}).get("description")
    severity = (test.get("config", {}).get("severity") or "error").lower()
    effect = "blocks the assets downstream when it fails" if severity == "error" else "warns only"
    if own:
        return f"{own} ({effect})"
    metadata = test.get("test_metadata") or {}
    name = metadata.get("name") or test.get("name", "test")
    kwargs = metadata.get("kwargs", {})
    columns = [kwargs["column_name"]] if kwargs.get("column_name") else list(kwargs.get("columns") or [])
    subject = ", ".join(f"`{c}`" for c in columns) if columns else "each row"
    if name in ("not_null", "columns_not_null"):
        what = f"{subject} always {'have' if len(columns) > 1 else 'has'} a value"
    elif name == "columns_non_negative":
        what = f"{subject} {'are' if len(columns) > 1 else 'is'} never negative"
    elif name == "unique":
        what = f"{subject} is unique"
    elif name == "accepted_values":
        what = f"{subject} is one of {', '.join(map(str, kwargs.get('values', [])))}"
    elif name == "relationships":
        what = f"every {subject} exists in {kwargs.get('to', 'its parent')} ({kwargs.get('field', '')})"
    elif metadata:
        details = ", ".join(
            f"{k}={v}" for k, v in kwargs.items() if k not in ("model", "column_name", "columns")
        )
        what = f"{name.replace('_', ' ')} on {subject}" + (f" ({details})" if details else "")
    else:  # a singular test: its SQL file says what it checks
        what = f"the rows of tests/{test.get('original_file_path', name).split('/')[-1]} are empty"
    return f"dbt test: {what}; {effect}."


class OmniDbtTranslator(DagsterDbtTranslator):
    """Keys models by [schema, name]; groups and owners by business area; dbt tests described."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] in ("model", "seed", "snapshot"):
            relation = dbt_resource_props.get("alias") or dbt_resource_props["name"]
            return dg.AssetKey([dbt_resource_props["schema"], relation])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return business_area(dbt_resource_props)

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        """dagster-dbt's metadata, and the model's file as a code reference (what `project=` gave)."""
        metadata = dict(super().get_metadata(dbt_resource_props))
        if path := dbt_resource_props.get("original_file_path"):
            metadata["dagster/code_references"] = dg.CodeReferencesMetadataValue(
                code_references=[dg.LocalFileCodeReference(file_path=str(DBT_PROJECT_DIR / path))]
            )
        return metadata

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        meta = dbt_resource_props.get("config", {}).get("meta", {}) or dbt_resource_props.get("meta", {})
        team = meta.get("owner") or AREA_OWNERS[business_area(dbt_resource_props)]
        return [f"team:{team}"]

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return dg.AssetCheckSpec(
            name=spec.name,
            asset=spec.asset_key,
            description=check_description(manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            metadata=spec.metadata,
            blocking=spec.blocking,
        )


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


# No `project=`: dagster-dbt would put the DbtProject object in every asset's metadata, which the
# UI can only show as "[DbtProject] (unserializable)". It serves code references (the translator
# adds them itself, get_metadata) and DbtCliResource's selector files (not used here).
@dbt_assets(
    manifest=MANIFEST,
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
        take_build_lock(lock, context.log.warning)
        with reporting_blocked_build(url, context.log.warning):
            yield from dbt.build(context, args)
        # models are keyed [schema, name]; autovacuum's work on what the build wrote, done now
        written = [sql.Identifier(*key.path).as_string(lock) for key in context.selected_asset_keys]
        maintain_written_tables(lock, written, context.log.info, context.log.warning)


dbt_resource = DbtResource()
