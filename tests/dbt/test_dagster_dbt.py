"""dbt in Dagster: every model an asset below its raw feed asset, dbt tests as asset checks, and a
real materialization of the dbt assets (dbt build in process through the project's DbtResource) on the rules scenario.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from orchestration.lib.build_lock import REPORT_EVERY_SECONDS
from orchestration.lib.database import dbt_env
from orchestration.lib.feeds import FEEDS
from tests.dbt.landing_files import RULES_BATCH_1
from tests.support.dbt import deliver, environment, query

MARTS = ("inventory_position", "atp_by_location", "atp_by_channel", "atp_network", "atp_timephased")


@pytest.fixture(scope="module")
def dbt_defs() -> dg.Definitions:
    from orchestration.defs.dbt.project import manifest_is_current, prepare_manifest

    prepare_manifest()  # what the CLI and CI do before loading the code location
    assert manifest_is_current()
    from orchestration.defs.dbt.definitions import defs

    return defs


def test_every_staging_model_is_downstream_of_its_raw_feed_asset(dbt_defs: dg.Definitions) -> None:
    graph = dbt_defs.resolve_asset_graph()
    for feed in FEEDS:
        staging = dg.AssetKey(["staging", f"stg_{feed.source}__{feed.name}"])
        assert dg.AssetKey(["raw", feed.raw_table]) in graph.get(staging).parent_keys, feed.feed_id
    for mart in MARTS:
        node = graph.get(dg.AssetKey(["marts", mart]))
        assert node.group_name == ("inventory" if mart == "inventory_position" else "availability")
        assert node.description


BUSINESS_AREAS = {
    "ingestion",
    "inventory",
    "availability",
    "quality",
    "replenishment",
    "finance",
    "ops",
    "ai",
}


def test_the_code_location_is_grouped_by_business_area_with_an_owner_and_a_description_everywhere() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name in BUSINESS_AREAS, (key, node.group_name)
        assert node.owners and all(o.startswith("team:") for o in node.owners), key
        assert node.description, key
    # the ledger the ingest steps write is drawn between them and its staging model
    ledger = graph.get(dg.AssetKey(["meta", "file_ledger"]))
    assert dg.AssetKey(["raw", "pos__sales"]) in ledger.parent_keys
    assert dg.AssetKey(["staging", "stg_meta__file_ledger"]) in ledger.child_keys
    # YAML owners win; an area's team otherwise
    assert graph.get(dg.AssetKey(["finance", "inventory_ledger"])).owners == ["team:finance"]
    assert graph.get(dg.AssetKey(["staging", "stg_pos__sales"])).owners == ["team:integration"]
    # every dbt test says what it checks and whether it blocks
    for check in graph.asset_check_keys:
        assert graph.get_check_spec(check).description, check
    spec = graph.get_check_spec(
        dg.AssetCheckKey(dg.AssetKey(["marts", "atp_network"]), "unique_atp_network_sku")
    )
    assert spec.description == "dbt test: `sku` is unique; blocks the assets downstream when it fails."
    assert spec.blocking


def test_dbt_tests_are_asset_checks(dbt_defs: dg.Definitions) -> None:
    checks = dbt_defs.resolve_asset_graph().asset_check_keys
    by_asset: dict[tuple[str, ...], set[str]] = {}
    for check in checks:
        by_asset.setdefault(tuple(check.asset_key.path), set()).add(check.name)
    assert (
        "unique_combination_inventory_position_location_id__sku" in by_asset[("marts", "inventory_position")]
    )
    # one scan per model for all of its required columns
    assert "inventory_position__not_null" in by_asset[("marts", "inventory_position")]
    # the raw feeds' checks are their Great Expectations suites (on each new load), not dbt tests
    assert not any(path[0] == "raw" for path in by_asset)
    # staging and intermediate models are checked too (not-null of the rows each build writes;
    # their keys are unique indexes, which the database enforces)
    assert "stg_pos__sales__not_null" in by_asset[("staging", "stg_pos__sales")]
    assert "int_channel__order_state__not_null" in by_asset[("intermediate", "int_channel__order_state")]


def test_dbt_defs_merge_with_the_ingestion_assets(dbt_defs: dg.Definitions) -> None:
    ingestion = pytest.importorskip("orchestration.defs.ingestion.definitions")
    from orchestration.defs.resources import Warehouse

    merged = dg.Definitions.merge(
        ingestion.defs, dbt_defs, dg.Definitions(resources={"warehouse": Warehouse()})
    )
    graph = merged.resolve_asset_graph()
    raw_sales = graph.get(dg.AssetKey(["raw", "pos__sales"]))
    assert raw_sales.is_materializable  # the lead's ingestion asset, not a stub
    assert dg.AssetKey(["staging", "stg_pos__sales"]) in raw_sales.child_keys


def test_materializing_the_dbt_assets_builds_the_marts_and_runs_the_checks(
    dbt_defs: dg.Definitions, module_db: str, module_landing: Path
) -> None:
    from orchestration.defs.dbt.assets import omni_dbt_assets
    from orchestration.defs.dbt.resource import DbtResource

    deliver(module_db, module_landing, RULES_BATCH_1)
    # this models (every staging model and everything the marts are built from; later
    # issues' models need assets built outside dbt), and the checks of the marts (all ~250
    # checks would only slow the test down)
    graph = dbt_defs.resolve_asset_graph()
    marts = [dg.AssetKey(["marts", mart]) for mart in MARTS]
    upstream_of_marts = dg.AssetSelection.assets(*marts).upstream().resolve(graph)
    models = {
        key
        for key in graph.get_all_asset_keys()
        if key.path[0] == "staging" or (key.path[0] in ("intermediate", "marts") and key in upstream_of_marts)
    }
    selection = dg.AssetSelection.assets(*models).without_checks() | dg.AssetSelection.checks_for_assets(
        *marts
    )
    with environment(dbt_env(module_db)):
        result = dg.materialize([omni_dbt_assets], resources={"dbt": DbtResource()}, selection=selection)
    assert result.success
    materialized = {tuple(e.asset_key.path) for e in result.get_asset_materialization_events()}
    assert {("marts", mart) for mart in MARTS} <= materialized
    assert materialized == {tuple(key.path) for key in models}
    # tables carry their row count for the UI
    (positions,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "stg_pos__inventory"
    ]
    staged = query(module_db, "select count(*) from staging.stg_pos__inventory")[0][0]
    assert positions.materialization.metadata["dagster/row_count"].value == staged > 0
    # and every model its columns as built: names and types from the catalog, descriptions from
    # the YAML, views (no row count) included
    by_name = {
        e.asset_key.path[-1]: e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    for relation in ("stg_pos__inventory", "atp_network"):
        schema_name = "staging" if relation.startswith("stg_") else "marts"
        catalog = query(
            module_db,
            "select column_name, format_type(a.atttypid, a.atttypmod) from information_schema.columns c"
            " join pg_attribute a on a.attrelid = to_regclass(c.table_schema || '.' || c.table_name)"
            " and a.attname = c.column_name where c.table_schema = %s and c.table_name = %s"
            " order by c.ordinal_position",
            (schema_name, relation),
        )
        built = by_name[relation]["dagster/column_schema"].value
        assert [(c.name, c.type) for c in built.columns] == catalog and catalog, relation
    assert "dagster/row_count" not in by_name["atp_network"]  # a view
    atp = {c.name: c for c in by_name["atp_network"]["dagster/column_schema"].value.columns}
    assert atp["sku"].description == "Stock keeping unit."
    assert atp["atp"].type in ("numeric", "bigint", "integer")
    evaluations = result.get_asset_check_evaluations()
    assert {tuple(e.asset_key.path) for e in evaluations} == {("marts", m) for m in MARTS}
    # every check of the marts ran: keys, not-null and non-negative columns, the on_hand identity
    assert len(evaluations) == len([c for c in graph.asset_check_keys if c.asset_key in marts]) >= 12
    assert all(evaluation.passed for evaluation in evaluations)
    assert query(
        module_db, "select atp from marts.atp_by_location where location_id = 'S1' and sku = 'A'"
    ) == [(6,)]


def test_a_dbt_build_waits_while_another_holds_the_build_lock(module_db: str) -> None:
    """Two runs' dbt steps never build at once: the second waits on the `omni.dbt_build` lock."""
    from orchestration.defs.dbt.assets import omni_dbt_assets
    from orchestration.defs.dbt.resource import DbtResource

    ledger = dg.AssetSelection.assets(dg.AssetKey(["staging", "stg_meta__file_ledger"])).without_checks()
    outcome: dict[str, bool] = {}

    messages: list[str] = []

    def build() -> None:
        with environment(dbt_env(module_db)), dg.instance_for_test() as instance:
            result = dg.materialize(
                [omni_dbt_assets], resources={"dbt": DbtResource()}, selection=ledger, instance=instance
            )
            messages.extend(entry.user_message for entry in instance.all_logs(result.run_id))
        outcome["success"] = result.success

    waiting_on_the_lock = (
        "select count(*) from pg_locks where locktype = 'advisory' and not granted"
        " and objid::int = hashtext('omni.dbt_build')"
    )
    with psycopg.connect(module_db, autocommit=True) as holder:  # "another run" is building
        holder.execute("select pg_advisory_lock(hashtext('omni.dbt_build'))")
        worker = threading.Thread(target=build)
        worker.start()
        deadline = time.monotonic() + 60
        while holder.execute(waiting_on_the_lock).fetchone()[0] == 0:
            assert time.monotonic() < deadline, "the second build never asked for the lock"
            time.sleep(0.2)
        worker.join(timeout=REPORT_EVERY_SECONDS + 3)
        assert worker.is_alive()  # still waiting: it has not built anything
        holder_pid = holder.execute("select pg_backend_pid()").fetchone()[0]
        holder.execute("select pg_advisory_unlock(hashtext('omni.dbt_build'))")
    worker.join(timeout=120)
    assert outcome == {"success": True}
    # the wait was not silent: within seconds the step said on whom it waits
    assert any(f"dbt build lock (omni.dbt_build), held by pid {holder_pid}" in m for m in messages), messages


BLOCKED_DBT = (
    "select count(*) from pg_stat_activity where application_name = 'dbt' and wait_event_type = 'Lock'"
)


def test_a_dbt_build_blocked_by_a_reader_says_on_whom(module_db: str) -> None:
    """A session holding a lock on a relation dbt writes (a reader left in an open transaction on
    a mart dbt replaces) blocks the build: the step says so, and on whom, within 10 s
    (docs/contract.md section 5)."""
    from orchestration.defs.dbt.assets import omni_dbt_assets
    from orchestration.defs.dbt.resource import DbtResource

    ledger = dg.AssetSelection.assets(dg.AssetKey(["staging", "stg_meta__file_ledger"])).without_checks()
    messages: list[str] = []

    def build() -> bool:
        with environment(dbt_env(module_db)), dg.instance_for_test() as instance:
            result = dg.materialize(
                [omni_dbt_assets], resources={"dbt": DbtResource()}, selection=ledger, instance=instance
            )
            messages.extend(entry.user_message for entry in instance.all_logs(result.run_id))
        return result.success

    if query(module_db, "select to_regclass('staging.stg_meta__file_ledger') is null") == [(True,)]:
        assert build()
    messages.clear()
    outcome: list[bool] = []
    with psycopg.connect(module_db, application_name="a BI tool") as reader:
        # what a reader holding a mart dbt replaces does to the build (dbt's rename waits on the
        # reader's lock); here a lock on a model dbt reads, its transaction left open
        reader.execute("lock table staging.stg_meta__file_ledger in access exclusive mode")
        reader_pid = reader.execute("select pg_backend_pid()").fetchone()[0]
        worker = threading.Thread(target=lambda: outcome.append(build()))
        worker.start()
        deadline = time.monotonic() + 60
        while query(module_db, BLOCKED_DBT) == [(0,)]:
            assert worker.is_alive() and time.monotonic() < deadline, "dbt never waited on the reader"
            time.sleep(0.2)
        worker.join(timeout=REPORT_EVERY_SECONDS + 2)  # one report at the most
        assert worker.is_alive()  # blocked on the reader
        reader.rollback()
    worker.join(timeout=120)
    assert outcome == [True]
    assert any(
        f"dbt waits for a lock held by pid {reader_pid} (login" in m and "a BI tool" in m for m in messages
    ), [m for m in messages if "lock" in m]
