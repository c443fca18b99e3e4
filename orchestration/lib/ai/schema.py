"""The tables of AI-assisted operations (docs/contract.md section 6), created by their assets."""

from __future__ import annotations

import psycopg

AI_SCHEMA = "ai"
MODEL_VERSION = "2"  # 2: count variance spread floor of one sku; value_at_risk
BI_ROLE = "omni_bi"  # orchestration/lib/bi_access.py BI_ROLE, dbt var bi_role

AI_DDL = f"""
create schema if not exists {AI_SCHEMA};
create table if not exists {AI_SCHEMA}.anomalies (
    anomaly_id    text primary key,
    anomaly_type  text not null,
    location_id   text,
    channel_id    text,
    sku           text,
    window_start  timestamptz not null,
    window_end    timestamptz not null,
    observed      numeric not null,
    expected      numeric not null,
    score         numeric not null check (score between 0 and 1),
    explanation   text not null,
    model         text not null,
    model_version text not null,
    parameters    jsonb not null,
    detected_at   timestamptz not null,
    status        text not null check (status in ('open', 'resolved')),
    value_at_risk numeric
);
-- ai.anomalies of model version 1 had no value_at_risk
alter table {AI_SCHEMA}.anomalies add column if not exists value_at_risk numeric;
-- RECURRING_COUNT_VARIANCE's figures per location and day, computed once per day and again only
-- when a file touching the day loads (count_variance.py): the files already counted, the days.
create table if not exists {AI_SCHEMA}.count_variance_locations (
    day                date not null,
    location_id        text not null,
    skus               bigint not null,
    skus_with_variance bigint not null,
    skus_book_above    bigint not null,
    variance_value     double precision not null,
    currency           text,
    primary key (day, location_id)
);
create table if not exists {AI_SCHEMA}.count_variance_days (
    day           date primary key,
    cut           timestamptz not null,  -- the newest snapshot_ts read: the day's end, or as_of
    query_version integer not null,
    computed_at   timestamptz not null
);
create table if not exists {AI_SCHEMA}.count_variance_loads (load_id bigint primary key);
create table if not exists {AI_SCHEMA}.exception_clusters (
    cluster_id        text primary key,
    owner_team        text not null,
    exception_types   text[] not null,
    exceptions        integer not null,
    locations         text[] not null,
    skus              text[] not null,
    first_seen_at     timestamptz,
    likely_root_cause text not null,
    summary           text not null,
    suggested_action  text not null,
    model             text not null,
    parameters        jsonb not null
);
create table if not exists {AI_SCHEMA}.policy_suggestions (
    channel_id                     text not null,
    sku                            text not null,
    current_channel_safety_stock   integer,
    suggested_channel_safety_stock integer not null,
    current_max_share_pct          numeric,
    suggested_max_share_pct        numeric not null,
    reason                         text not null,
    anomaly_id                     text not null,
    model                          text not null,
    primary key (channel_id, sku)
);
"""


def ensure_ai_schema(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ensure_ai_schema'))")
        conn.execute(AI_DDL)
        # The BI role reads the ai tables (docs/contract.md section 5); dbt's grants cover them
        # too, but only from its next build after the tables exist.
        if conn.execute("select 1 from pg_roles where rolname = %s", (BI_ROLE,)).fetchone():
            conn.execute(f"grant usage on schema {AI_SCHEMA} to {BI_ROLE}")
            conn.execute(f"grant select on all tables in schema {AI_SCHEMA} to {BI_ROLE}")
