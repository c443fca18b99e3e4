"""Least privilege, no secrets in the repository, and SQL that survives hostile names.

One scenario per module: the rules scenario of tests/dbt plus files whose location id, sku,
channel id and file names are SQL injections, loaded by the real loader, turned into Great
Expectations batches and exceptions by the real quality code, and built by real dbt (whose
on-run-end hook grants the BI role).
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from orchestration.defs.resources import Warehouse
from orchestration.lib.feeds import get_feed
from orchestration.lib.quality.batches import snapshot_batch
from orchestration.lib.quality.schema import ensure_quality_schema
from orchestration.lib.settings import DAGSTER_INSTANCE_TEMPLATE, DBT_PROJECT_DIR, PROJECT_DIR
from tests.dbt.landing_files import RULES_BATCH_1
from tests.support.dbt import Dbt, deliver, query

BI_ROLE = "omni_bi"
BI_SCHEMAS = ("marts", "quality", "replenishment", "finance", "ops")
CLOSED_SCHEMAS = ("raw", "staging", "intermediate", "meta")

HOSTILE_LOCATION = "x'); drop table raw.erp__items; --"
HOSTILE_SKU = 'A"; delete from raw.pos__sales; --\\'
HOSTILE_CHANNEL = "M'K\"T; drop schema marts cascade"
HOSTILE_FILE = "inv'); drop table meta.file_ledger; --"


def _csv(header: list[str], *rows: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


HOSTILE_FILES = {
    f"erp/locations/{HOSTILE_FILE}.csv": _csv(
        [
            "location_id",
            "location_type",
            "region",
            "legal_entity",
            "ships_to_customer",
            "pickup_enabled",
            "snapshot_ts",
        ],
        [HOSTILE_LOCATION, "store", "north", "LE1", "true", "true", "2024-05-01T00:00:00"],
    ),
    f"erp/items/{HOSTILE_FILE}.csv": _csv(
        ["sku", "description", "category", "unit_cost", "currency", "status", "snapshot_ts"],
        [HOSTILE_SKU, "'; select pg_sleep(60); --", "x", "1.5", "EUR", "active", "2024-05-01T00:00:00"],
    ),
    f"erp/channel_policy/{HOSTILE_FILE}.csv": _csv(
        [
            "channel_id",
            "channel_type",
            "max_share_pct",
            "channel_safety_stock",
            "fulfillment_location_types",
            "snapshot_ts",
        ],
        [HOSTILE_CHANNEL, "store", "100", "0", "store", "2024-05-01T00:00:00"],
    ),
    f"pos/inventory/{HOSTILE_FILE}.csv": _csv(
        ["location_id", "sku", "on_hand", "damaged", "snapshot_ts"],
        [HOSTILE_LOCATION, HOSTILE_SKU, "7", "1", "2024-05-01T08:30:00"],
    ),
    f"pos/sales/{HOSTILE_FILE}.csv": _csv(
        ["event_id", "location_id", "sku", "qty", "event_ts"],
        ["e'1;--", HOSTILE_LOCATION, HOSTILE_SKU, "2", "2024-05-01T09:30:00"],
    ),
    f"channel/{HOSTILE_CHANNEL}/orders/{HOSTILE_FILE}.csv": _csv(
        ["event_id", "channel_id", "order_id", "sku", "qty", "status", "event_ts"],
        ["o'1", HOSTILE_CHANNEL, "O'1", HOSTILE_SKU, "1", "accepted", "2024-05-01T09:00:00"],
    ),
}


@pytest.fixture(scope="module")
def warehouse(module_db: str, module_landing: Path, make_dbt: Callable[[str], Dbt]) -> str:
    deliver(module_db, module_landing, {**RULES_BATCH_1, **HOSTILE_FILES})
    with psycopg.connect(module_db) as conn:
        ensure_quality_schema(conn)
        # What the Great Expectations step does before validating: views over the raw rows.
        snapshot_batch(conn, get_feed("pos", "inventory"))
        snapshot_batch(conn, get_feed("erp", "locations"))
        conn.commit()
    make_dbt(module_db)("build", "--exclude-resource-type", "test", "unit_test")  # models (and seeds)
    return module_db


def _relations(url: str, schemas: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in query(
            url,
            "select n.nspname, c.relname, c.relkind::text from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p') order by 1, 2",
            (list(schemas),),
        )
    ]


def _views_reading(url: str, schemas: tuple[str, ...], sources: tuple[str, ...]) -> set[tuple[str, str]]:
    """Views in `schemas` that select directly from a table in `sources`."""
    rows = query(
        url,
        "select distinct view_schema, view_name from information_schema.view_table_usage"
        " where view_schema = any(%s) and table_schema = any(%s)",
        (list(schemas), list(sources)),
    )
    return {(r[0], r[1]) for r in rows}


def _as_bi(url: str, statement: sql.Composable | str) -> Exception | None:
    """Run `statement` as the BI role; returns the error it raised (None when it was allowed)."""
    with psycopg.connect(url) as conn:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("set local role {}").format(sql.Identifier(BI_ROLE)))
                conn.execute(statement)
        except psycopg.Error as error:
            return error
    return None


def test_bi_role_reads_every_bi_table_but_no_raw_row(warehouse: str) -> None:
    relations = _relations(warehouse, BI_SCHEMAS)
    present = {schema for schema, _, _ in relations}
    assert {"marts", "quality", "replenishment", "finance"} <= present, present
    # A view that passes raw rows through (Great Expectations' batches) would let BI read raw data.
    raw_passthrough = _views_reading(warehouse, BI_SCHEMAS, ("raw", "meta"))
    assert ("quality", "gx_batch__pos__inventory") in raw_passthrough
    for schema, name, _ in relations:
        error = _as_bi(warehouse, sql.SQL("select * from {} limit 1").format(sql.Identifier(schema, name)))
        if (schema, name) in raw_passthrough:
            assert isinstance(error, psycopg.errors.InsufficientPrivilege), (
                f"{schema}.{name} exposes raw rows"
            )
        else:
            assert error is None, f"{schema}.{name}: {error}"


def test_bi_role_is_refused_raw_staging_intermediate_and_meta(warehouse: str) -> None:
    relations = _relations(warehouse, CLOSED_SCHEMAS)
    assert {schema for schema, _, _ in relations} == set(CLOSED_SCHEMAS)
    for schema, name, _ in relations:
        error = _as_bi(warehouse, sql.SQL("select * from {} limit 1").format(sql.Identifier(schema, name)))
        assert isinstance(error, psycopg.errors.InsufficientPrivilege), f"{schema}.{name}: {error!r}"


def test_bi_role_cannot_write_anywhere(warehouse: str) -> None:
    tables = [(s, n) for s, n, kind in _relations(warehouse, BI_SCHEMAS + CLOSED_SCHEMAS) if kind == "r"]
    views = [(s, n) for s, n, kind in _relations(warehouse, ("marts",)) if kind == "v"]
    assert tables and views
    attempts: list[sql.Composable] = []
    for schema, name in tables:
        target = sql.Identifier(schema, name)
        attempts += [
            sql.SQL("insert into {} default values").format(target),
            sql.SQL("update {} set {} = null").format(
                target, sql.Identifier(_first_column(warehouse, schema, name))
            ),
            sql.SQL("delete from {}").format(target),
            sql.SQL("truncate {}").format(target),
            sql.SQL("drop table {}").format(target),
        ]
    for schema, name in views:  # (rows of a view are its tables': the attempts above)
        attempts += [
            sql.SQL("drop view {}").format(sql.Identifier(schema, name)),
            sql.SQL("create or replace view {} as select 1 as x").format(sql.Identifier(schema, name)),
        ]
    schemas = {r[0] for r in query(warehouse, "select nspname from pg_namespace")}
    for schema in sorted(schemas & {*BI_SCHEMAS, *CLOSED_SCHEMAS, "public"}):
        attempts += [
            sql.SQL("create table {} (x int)").format(sql.Identifier(schema, "bi_was_here")),
            sql.SQL("create view {} as select 1 as x").format(sql.Identifier(schema, "bi_was_here")),
        ]
    attempts += [
        sql.SQL("create schema bi_was_here"),
        sql.SQL("grant select on all tables in schema raw to omni_bi"),
    ]
    allowed = []
    for statement in attempts:
        error = _as_bi(warehouse, statement)
        if not isinstance(error, psycopg.errors.InsufficientPrivilege):
            allowed.append(f"{statement.as_string(None)}: {error!r}")
    assert not allowed, allowed


def _first_column(url: str, schema: str, table: str) -> str:
    return query(
        url,
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s"
        " and is_identity = 'NO' and is_generated = 'NEVER' order by ordinal_position limit 1",
        (schema, table),
    )[0][0]


def test_hostile_ids_and_file_names_are_data_not_sql(warehouse: str) -> None:
    # every table the injections name is still there, with its rows
    assert query(warehouse, "select count(*) from raw.erp__items") == [(1,)]
    assert query(warehouse, "select count(*) from raw.pos__sales") == [(6,)]
    assert query(warehouse, "select to_regclass('marts.inventory_position') is not null") == [(True,)]
    ledger = dict(query(warehouse, "select file_path, status from meta.file_ledger"))
    assert all(ledger[path] == "loaded" for path in HOSTILE_FILES), ledger
    # and the hostile values came through verbatim, computed like any other
    position = query(
        warehouse,
        "select on_hand, damaged, available from marts.inventory_position where location_id = %s and sku = %s",
        (HOSTILE_LOCATION, HOSTILE_SKU),
    )
    assert position == [(5, 1, 4)]  # 7 counted, 2 sold after the count; 1 damaged
    ats = query(
        warehouse,
        "select ats from marts.atp_by_channel where channel_id = %s and sku = %s",
        (HOSTILE_CHANNEL, HOSTILE_SKU),
    )
    assert ats == [(3,)]  # pool 4 at the pickup store, 1 unallocated order


# --- secrets ----------------------------------------------------------------------------------

URL_WITH_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"`]+:([^@\s/'\"`]+)@")
PASSWORD_LITERAL = re.compile(
    r"(?i)\b(?:password|passwd|pwd|secret|token|api_key)\b\s*[:=]\s*['\"]([^'\"]+)['\"]"
)
KEY_MATERIAL = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{30,}"
)
# Documentation placeholders and templated values, not secrets.
PLACEHOLDERS = re.compile(r"^(?:pw|password|\*+|<[^>]*>|\{[^}]*\}|\$\{?\w+\}?|x+|\.\.\.)$|env_var\(", re.I)


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [PROJECT_DIR / name for name in listed.split("\0") if name and (PROJECT_DIR / name).is_file()]


def test_no_credentials_in_the_repository() -> None:
    findings = []
    files = _repository_files()
    assert len(files) > 50
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        for number, line in enumerate(text.splitlines(), start=1):
            for pattern in (URL_WITH_PASSWORD, PASSWORD_LITERAL):
                for match in pattern.finditer(line):
                    if not PLACEHOLDERS.search(match.group(1)):
                        findings.append(f"{path.relative_to(PROJECT_DIR)}:{number}: {line.strip()[:120]}")
            if KEY_MATERIAL.search(line):
                findings.append(f"{path.relative_to(PROJECT_DIR)}:{number}: key material")
    assert not findings, findings


def test_connection_settings_come_only_from_the_environment() -> None:
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    for name, output in profile["omni_inventory"]["outputs"].items():
        for field in ("host", "port", "user", "password", "dbname"):
            assert re.search(r"env_var\('OMNI_PG_\w+'", str(output[field])), (
                f"{name}.{field} is not from env_var"
            )
    dagster = yaml.safe_load(DAGSTER_INSTANCE_TEMPLATE.read_text())
    assert dagster["storage"]["custom"]["config"]["postgres_url"] == {"env": "OMNI_DAGSTER_STORAGE_URL"}
    # The warehouse resource has nothing to configure: no URL can end up in run config or the UI.
    assert Warehouse.model_fields == {}


def test_bi_role_can_neither_make_temporary_tables_nor_take_advisory_locks(warehouse: str) -> None:
    """Probe 8: a BI login reads; it cannot fill temp space or stall a build on its lock."""
    assert isinstance(
        _as_bi(warehouse, "create temporary table scratch (x int)"), psycopg.errors.InsufficientPrivilege
    )
    for call in (
        "select pg_advisory_lock(hashtext('omni.dbt_build'))",
        "select pg_try_advisory_lock(1)",
        "select pg_advisory_xact_lock(1, 2)",
        "select pg_advisory_lock_shared(1)",
    ):
        assert isinstance(_as_bi(warehouse, call), psycopg.errors.InsufficientPrivilege), call
    # the owner keeps both (the loader and the build use them)
    with psycopg.connect(warehouse) as conn:
        conn.execute("create temporary table owner_scratch (x int)")
        assert conn.execute("select pg_try_advisory_lock(hashtext('probe'))").fetchone() == (True,)


def test_bi_user_prints_a_login_that_reads_the_marts_and_nothing_else(warehouse: str) -> None:
    from click.testing import CliRunner

    from orchestration.cli import main

    result = CliRunner().invoke(main, ["bi-user", "analyst_ann"], env={"OMNI_DATABASE_URL": warehouse})
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert url.startswith("postgresql://analyst_ann:") and url.endswith(warehouse.rsplit("/", 1)[1])
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_user").fetchone() == ("analyst_ann",)
        # a transaction left idle on a mart cannot stall the build that replaces it for long
        assert conn.execute("show idle_in_transaction_session_timeout").fetchone() == ("1min",)
        assert conn.execute("select count(*) >= 0 from marts.inventory_position").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from raw.pos__inventory limit 1")
    refused = CliRunner().invoke(main, ["bi-user", "Robert'); drop"], env={"OMNI_DATABASE_URL": warehouse})
    assert refused.exit_code != 0 and "invalid login name" in refused.output
