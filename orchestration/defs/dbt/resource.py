"""The `dbt` resource: dbt commands run inside the step's process, results as Dagster events.

dagster-dbt's `DbtCliResource` starts a dbt process per step and, for a subset of models (every
sensor run), copies the project and parses it again: seconds before any SQL. This resource runs
the same command through lib/dbt_runner.py (parsed once per process) and turns dbt's result
events into Dagster outputs and asset-check results with dagster-dbt's own event conversion, so
the UI shows the same materializations, metadata and checks.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any

import dagster as dg
import psycopg
from dagster_dbt.asset_utils import (
    DAGSTER_DBT_EXCLUDE_METADATA_KEY,
    DAGSTER_DBT_SELECT_METADATA_KEY,
    DAGSTER_DBT_SELECTOR_METADATA_KEY,
    get_manifest_and_translator_from_dbt_assets,
    get_subset_selection_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dbt_common.events.functions import msg_to_dict
from psycopg import sql

from orchestration.defs.dbt.project import TARGET_DIR
from orchestration.defs.retry import warehouse_unreachable
from orchestration.lib.database import dbt_database_url
from orchestration.lib.dbt_runner import DbtCommandError, InProcessDbt
from orchestration.lib.settings import DBT_PROJECT_DIR

# dbt events that carry a node's result (the ones dagster-dbt turns into Dagster events).
RESULT_EVENTS = frozenset({"LogModelResult", "LogSeedResult", "LogSnapshotResult", "LogTestResult"})
_DONE = object()


EXACT_BELOW_ROWS = 100_000
# Nodes that build no relation of their own (their events carry a materialized value too).
NOT_RELATIONS = frozenset({"test", "unit", "ephemeral", "unit_test"})


class TableFacts:
    """What the UI shows of each relation a dbt node built: `dagster/row_count` and `dagster/column_schema`.

    One catalog query per node (pg_class, pg_attribute; under a millisecond) after dbt reports it
    built. The column schema is the relation as built: names and PostgreSQL types, nullability
    from the table's NOT NULL constraints, descriptions from the model's YAML. Column *lineage*
    is left out: docs/dagster-and-dbt.md says why.

    A big table's row count is PostgreSQL's own estimate (pg_class.reltuples), which the models'
    post-hook keeps current with ANALYZE: a count(*) of every big table after every micro-batch
    would cost more than the batch. Below EXACT_BELOW_ROWS the count is exact. Views have none
    (the figure would be a query of their whole source).
    """

    CATALOG_SQL = """
        select c.reltuples::bigint, c.relkind in ('r', 'p'),
               json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull)
                        order by a.attnum)
        from pg_class c
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.oid = to_regclass(%s)
        group by c.oid
    """

    def __init__(self, url: str, manifest: Mapping[str, Any]) -> None:
        self.url = url
        self.manifest = manifest
        self.conn: psycopg.Connection | None = None

    def __enter__(self) -> TableFacts:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()

    def of(self, raw_event: dict[str, Any]) -> dict[str, Any]:
        """The metadata of the relation the event's node built ({} for tests and failed nodes)."""
        node = raw_event.get("data", {}).get("node_info", {})
        relation = node.get("node_relation") or {}
        if node.get("node_status") != "success" or node.get("materialized") in NOT_RELATIONS:
            return {}
        name = sql.Identifier(relation.get("schema") or "", relation.get("alias") or "")
        try:
            self.conn = self.conn or psycopg.connect(self.url, autocommit=True)
            row = self.conn.execute(self.CATALOG_SQL, (name.as_string(self.conn),)).fetchone()
            if row is None:
                return {}
            estimate, is_table, columns = row
            facts: dict[str, Any] = {"dagster/column_schema": self._schema(node.get("unique_id"), columns)}
            if is_table:
                if estimate < EXACT_BELOW_ROWS:  # small, or never analyzed (-1): counted exactly
                    counted = self.conn.execute(sql.SQL("select count(*) from {}").format(name)).fetchone()
                    estimate = counted[0] if counted else 0
                facts["dagster/row_count"] = int(estimate)
        except psycopg.Error:  # figures for the UI only: never fail the build over them
            return {}
        return facts

    def _schema(self, unique_id: str | None, columns: list[list[Any]]) -> dg.TableSchema:
        documented = self.manifest.get("nodes", {}).get(unique_id or "", {}).get("columns", {})
        return dg.TableSchema(
            columns=[
                dg.TableColumn(
                    name=column,
                    type=type_name,
                    description=(documented.get(column) or {}).get("description") or None,
                    constraints=dg.TableColumnConstraints(nullable=not not_null),
                )
                for column, type_name, not_null in columns
            ]
        )


@cache
def project_dbt() -> InProcessDbt:
    """This process's dbt for the project (one parse per process)."""
    return InProcessDbt(
        project_dir=DBT_PROJECT_DIR,
        profiles_dir=DBT_PROJECT_DIR,
        parse_target=DBT_PROJECT_DIR / TARGET_DIR,
    )


class DbtResource(dg.ConfigurableResource):
    """Runs dbt commands of the project in process (see the module docstring)."""

    def build(self, context: dg.AssetExecutionContext, args: Sequence[str]) -> Iterator[Any]:
        """Run `args` (e.g. `build ...`) on the step's selection; yield its Dagster events as they come.

        Raises dg.Failure naming every failed node once the command has finished.
        """
        manifest, translator, project = get_manifest_and_translator_from_dbt_assets([context.assets_def])
        selection, indirect_selection = get_subset_selection_for_context(
            context=context,
            manifest=manifest,
            select=context.op.tags.get(DAGSTER_DBT_SELECT_METADATA_KEY),
            exclude=context.op.tags.get(DAGSTER_DBT_EXCLUDE_METADATA_KEY),
            selector=context.op.tags.get(DAGSTER_DBT_SELECTOR_METADATA_KEY),
            dagster_dbt_translator=translator,
            current_dbt_indirect_selection_env=None,
        )
        command = [*args, *selection]
        if indirect_selection:
            command += ["--indirect-selection", indirect_selection]

        results: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, BaseException] = {}

        def collect(event: Any) -> None:
            if event.info.name in RESULT_EVENTS:
                results.put(msg_to_dict(event))

        def run() -> None:
            try:
                project_dbt().invoke(command, callbacks=[collect])
            except BaseException as error:  # handed to the step's thread below
                outcome["error"] = error
            finally:
                results.put(_DONE)

        context.log.info(f"dbt {' '.join(command)}")
        worker = threading.Thread(target=run, name="dbt", daemon=True)
        worker.start()
        with TableFacts(dbt_database_url(), manifest) as table_facts:
            while (raw_event := results.get()) is not _DONE:
                message = DbtCoreCliEventMessage(raw_event=raw_event, event_history_metadata={})
                facts = table_facts.of(raw_event)
                for event in message.to_default_asset_events(
                    manifest=manifest, dagster_dbt_translator=translator, context=context, project=project
                ):
                    if facts and isinstance(event, dg.Output):
                        event = event.with_metadata({**event.metadata, **facts})
                    yield event
        worker.join()
        if error := outcome.get("error"):
            if isinstance(error, DbtCommandError):
                if error.outage:  # one line naming the database; dbt's per-model errors are the cause
                    raise warehouse_unreachable(dbt_database_url(), error) from error
                # a failing model or test fails the same way again: only an outage is retried
                raise dg.Failure(description=str(error), allow_retries=False) from error
            raise error
