"""The `quality` tables this package maintains (idempotent DDL, created on first use).

- inventory_exceptions: the contract's exceptions table (section 4), one row per finding ever seen;
- inventory_exception_history: every open / resolve / re-open of an exception, at which as_of
  (the contract table keeps no resolution time; ops cycle times read it from here);
- exception_acknowledgements: who settled which exception on permanent evidence, when and why
  (`omni-inventory exceptions ack`); such an exception stays resolved;
- gx_validations: the latest validation of each suite (fingerprint, per-expectation outcome);
- gx_findings: every failing key of the latest validation of each suite;
- gx_validated_loads: the loads of an event feed its suite has validated (event batches are new loads);
- snapshot_index: which load holds which snapshot of which scope (current batches, out-of-order);
- failed_blocking_expectations (view): what stops replenishment and finance (quality/blocking_gate).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg

QUALITY_SCHEMA = "quality"

QUALITY_DDL = f"""
create schema if not exists {QUALITY_SCHEMA};

-- Each column's comment is its description in the Dagster UI (ddl_columns below).
create table if not exists {QUALITY_SCHEMA}.inventory_exceptions (
    exception_id   text primary key,  -- md5 of type, feed, location, sku and the finding's discriminator: the same finding keeps its id
    exception_type text not null,  -- what was found (MALFORMED_FILE, NEGATIVE_ON_HAND, STALE_FEED, ...; docs/quality.md)
    severity       text not null check (severity in ('blocking', 'warning')),  -- blocking stops replenishment and finance; warning is reported only
    source_system  text,  -- the source system (erp, wms, pos, oms, channel)
    feed           text,  -- the feed id (wms/inventory); null for a mart-level finding
    location_id    text,  -- the location the finding is about; null for a file or a whole feed
    sku            text,  -- the SKU the finding is about; null for a file or a whole feed
    detected_at    timestamptz not null,  -- as_of when the current open episode began
    details        jsonb not null,  -- the evidence (file, reason, event id, samples, expectation, ...) and detected_by
    owner_team     text not null,  -- the team that answers for it (dbt seed exception_owner_teams)
    status         text not null check (status in ('open', 'resolved')),  -- open, or resolved once the finding is gone (never deleted)
    first_seen_at  timestamptz not null,  -- as_of when first found
    last_seen_at   timestamptz not null,  -- as_of when last found
    priority_score numeric,  -- value at risk x urgency x severity weight, on open exceptions (quality.exception_queue; docs/ai.md)
    priority_rank  integer  -- 1 = the first to work on within its owner team, on open exceptions (quality.exception_queue)
);
-- Tables created before the exception queue existed.
alter table {QUALITY_SCHEMA}.inventory_exceptions
    add column if not exists priority_score numeric, add column if not exists priority_rank integer;
create index if not exists inventory_exceptions_open_pair
    on {QUALITY_SCHEMA}.inventory_exceptions (location_id, sku) where status = 'open';
create index if not exists inventory_exceptions_type_status
    on {QUALITY_SCHEMA}.inventory_exceptions (exception_type, status);

create table if not exists {QUALITY_SCHEMA}.inventory_exception_history (
    history_id   bigint generated always as identity primary key,
    exception_id text not null,
    transition   text not null check (transition in ('opened', 'resolved', 'reopened')),
    as_of        timestamptz not null,
    recorded_at  timestamptz not null default now()
);
create index if not exists inventory_exception_history_id
    on {QUALITY_SCHEMA}.inventory_exception_history (exception_id, history_id);

-- (quality.exception_owner_teams is the dbt seed dbt_project/seeds/exception_owner_teams.csv.)

create table if not exists {QUALITY_SCHEMA}.exception_acknowledgements (
    exception_id    text primary key,
    acknowledged_by text not null,
    note            text not null,
    acknowledged_at timestamptz not null default now()
);

create table if not exists {QUALITY_SCHEMA}.gx_validations (
    suite         text primary key,
    feed          text not null,
    fingerprint   text not null,
    as_of         timestamptz,
    validated_at  timestamptz not null,
    seconds       double precision not null,
    batch_rows    bigint not null,
    batch         text not null,
    expectations  jsonb not null
);
-- Mart suites with changed_rows_from: the table's newest _run_seq that validation covered.
alter table {QUALITY_SCHEMA}.gx_validations add column if not exists validated_through bigint;

create table if not exists {QUALITY_SCHEMA}.gx_findings (
    suite          text not null,
    check_name     text not null,
    exception_type text not null,
    severity       text not null,
    feed           text not null,
    source_system  text not null,
    location_id    text,
    sku            text,
    key_values     jsonb not null,
    details        jsonb not null,
    as_of          timestamptz,
    validated_at   timestamptz not null,
    primary key (suite, check_name, key_values)
);

create table if not exists {QUALITY_SCHEMA}.gx_validated_loads (
    suite   text not null,
    load_id bigint not null,
    primary key (suite, load_id)
);

create table if not exists {QUALITY_SCHEMA}.snapshot_index (
    feed        text not null,
    scope_value text not null,  -- the scope columns' values joined by '|'; '' for unscoped feeds
    snapshot_ts timestamptz not null,
    load_id     bigint not null,
    row_count   bigint not null,
    primary key (feed, load_id, scope_value, snapshot_ts)
);
create index if not exists snapshot_index_scope
    on {QUALITY_SCHEMA}.snapshot_index (feed, scope_value, snapshot_ts);

-- What the blocking gate reads: expectations of blocking severity that failed in the latest
-- validation of their suite (an expectation that raised counts as failed).
create or replace view {QUALITY_SCHEMA}.failed_blocking_expectations as
select v.suite, v.feed, e->>'check_name' as check_name, e->>'exception_type' as exception_type,
       (e->>'unexpected_count')::bigint as unexpected_count, e->>'error' as error, v.as_of, v.validated_at
from {QUALITY_SCHEMA}.gx_validations v
cross join lateral jsonb_array_elements(v.expectations) e
where e->>'severity' = 'blocking' and not (e->>'success')::boolean;
"""


@dataclass(frozen=True)
class DdlColumn:
    """A column as QUALITY_DDL creates it: name, type, constraints and its comment."""

    name: str
    type: str
    nullable: bool
    unique: bool
    checks: tuple[str, ...]
    description: str


_DDL_COLUMN = re.compile(r"^\s+(?P<name>\w+)\s+(?P<type>\w+)(?P<rest>[^-]*?),?\s*--\s*(?P<description>.+)$")


def ddl_columns(table: str) -> list[DdlColumn]:
    """The columns of QUALITY_DDL's `create table` of `table`, in order (each must have a comment)."""
    block = re.search(
        rf"create table if not exists {QUALITY_SCHEMA}\.{table} \((.*?)\n\);", QUALITY_DDL, re.S
    )
    if block is None:
        raise KeyError(f"QUALITY_DDL creates no table {QUALITY_SCHEMA}.{table}")
    columns = []
    for line in block.group(1).strip("\n").splitlines():
        match = _DDL_COLUMN.match(line)
        if match is None:
            raise ValueError(f"{QUALITY_SCHEMA}.{table}: a column without a `-- description`: {line.strip()}")
        rest = match["rest"].lower()
        key = "primary key" in rest
        columns.append(
            DdlColumn(
                name=match["name"],
                type=match["type"],
                nullable=not key and "not null" not in rest,
                unique=key or "unique" in rest,
                checks=tuple(re.findall(r"check \((.*)\)", match["rest"])),
                description=match["description"].strip(),
            )
        )
    return columns


def ensure_quality_schema(conn: psycopg.Connection) -> None:
    with conn.transaction():
        # Serialise concurrent first runs: CREATE ... IF NOT EXISTS still races on the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ensure_quality_schema'))")
        conn.execute(QUALITY_DDL)


def relation_exists(conn: psycopg.Connection, qualified_name: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (qualified_name,)).fetchone()
    return bool(row and row[0])
