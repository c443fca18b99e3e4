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

import psycopg

QUALITY_SCHEMA = "quality"

QUALITY_DDL = f"""
create schema if not exists {QUALITY_SCHEMA};

create table if not exists {QUALITY_SCHEMA}.inventory_exceptions (
    exception_id   text primary key,
    exception_type text not null,
    severity       text not null check (severity in ('blocking', 'warning')),
    source_system  text,
    feed           text,
    location_id    text,
    sku            text,
    detected_at    timestamptz not null,
    details        jsonb not null,
    owner_team     text not null,
    status         text not null check (status in ('open', 'resolved')),
    first_seen_at  timestamptz not null,
    last_seen_at   timestamptz not null
);
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


def ensure_quality_schema(conn: psycopg.Connection) -> None:
    with conn.transaction():
        # Serialise concurrent first runs: CREATE ... IF NOT EXISTS still races on the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ensure_quality_schema'))")
        conn.execute(QUALITY_DDL)


def relation_exists(conn: psycopg.Connection, qualified_name: str) -> bool:
    row = conn.execute("select to_regclass(%s) is not null", (qualified_name,)).fetchone()
    return bool(row and row[0])
