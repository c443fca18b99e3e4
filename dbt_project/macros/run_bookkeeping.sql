{#
  Build bookkeeping: which loaded files each dbt invocation covers, and which invocation each
  incremental model has processed. docs/data-model.md ("How incremental works") explains it.

  meta.dbt_runs        one row per dbt invocation (run_seq grows with each build)
  meta.dbt_load_runs   each loaded file (meta.file_ledger.load_id) -> the first build that saw it
                       committed. Assigning loads to builds (instead of comparing load ids) means a
                       load that commits late with a lower id is still picked up by the next build.
  meta.dbt_watermarks  per incremental model: the last build it completed and that build's as_of.

  Models read these at compile time (run_query) so that the SQL sent to PostgreSQL carries plain
  literals (good plans, and unit tests can override the macros).
#}

{% macro omni_on_run_start() %}
create schema if not exists meta;
create table if not exists meta.dbt_runs (
    run_seq        bigint generated always as identity primary key,
    invocation_id  text not null unique,
    command        text,
    full_refresh   boolean not null default false,
    started_at     timestamptz not null default clock_timestamp(),
    as_of          timestamptz
);
-- as_of: the newest data time of every file loaded up to the build, set once below (every
-- model reads it; computing it per model joined the whole, ever-growing ledger twice a model).
alter table meta.dbt_runs add column if not exists as_of timestamptz;
create table if not exists meta.dbt_load_runs (
    load_id  bigint primary key,
    run_seq  bigint not null
);
create index if not exists dbt_load_runs_run_seq on meta.dbt_load_runs (run_seq);
create table if not exists meta.dbt_watermarks (
    model       text primary key,
    run_seq     bigint not null,
    as_of       timestamptz,
    updated_at  timestamptz not null default clock_timestamp()
);
-- What each view was last created from (macros/unchanged_views.sql); view_oid: a view dropped
-- or recreated by anyone else no longer matches, and is rebuilt.
create table if not exists meta.dbt_view_fingerprints (
    relation     text primary key,
    view_oid     oid not null,
    fingerprint  text not null,
    built_at     timestamptz not null default clock_timestamp()
);
-- Two builds starting together must not both claim the same loads.
select pg_advisory_xact_lock(hashtext('omni.dbt_run_start'));
insert into meta.dbt_runs (invocation_id, command, full_refresh)
values ('{{ invocation_id }}', '{{ flags.WHICH }}', {{ 'true' if flags.FULL_REFRESH else 'false' }})
on conflict (invocation_id) do nothing;
do $$
declare
    stale record;
begin
    -- Raw tables the loader filled since they were last analyzed: without statistics the
    -- planner takes a fresh bulk load for a handful of rows and picks quadratic joins.
    for stale in
        select format('%I.%I', schemaname, relname) as name
        from pg_stat_user_tables
        where schemaname = 'raw'
          and n_live_tup + n_mod_since_analyze > 0
          and (coalesce(last_analyze, last_autoanalyze) is null
               or n_mod_since_analyze > greatest(1000, 0.1 * n_live_tup))
    loop
        execute 'analyze ' || stale.name;
    end loop;
    if to_regclass('meta.file_ledger') is not null then
        insert into meta.dbt_load_runs (load_id, run_seq)
        select ledger.load_id, run.run_seq
        from meta.file_ledger as ledger
        cross join meta.dbt_runs as run
        where run.invocation_id = '{{ invocation_id }}'
          and ledger.status = 'loaded'
        on conflict (load_id) do nothing;
        update meta.dbt_runs as run
        set as_of = (
            select max(ledger.max_data_ts)
            from meta.file_ledger as ledger
            join meta.dbt_load_runs as load_run using (load_id)
            where ledger.status = 'loaded' and load_run.run_seq <= run.run_seq
        )
        where run.invocation_id = '{{ invocation_id }}';
    end if;
end
$$;
{% endmacro %}


{#
  Whether this invocation reads the build's bookkeeping (meta.dbt_runs and the ledger). Builds,
  runs and tests do, after the on-run-start hook has written their row. `dbt compile`, `docs
  generate`, `show` and `ls` run no such hook and may face an empty warehouse: they render every
  model in its full-build shape (every load, no watermark) without reading meta.*.
#}
{% macro omni_reads_build_state() -%}
    {{ return(execute and flags.WHICH not in ('compile', 'generate', 'show', 'list', 'ls', 'parse', 'serve')) }}
{%- endmacro %}


{# The key a model's watermark is stored under. #}
{% macro omni_model_key() -%}
{{ this.schema }}.{{ this.identifier }}
{%- endmacro %}


{#
  Everything a model needs to know about the build, in one query at compile time:
    run_seq         this invocation's build number
    watermark       the last build this model completed (0 when it never did, or in a full build)
    as_of           SQL literal: the newest snapshot_ts/event_ts of every file loaded up to this
                    build (data time, never the wall clock; null when nothing is loaded)
    previous_as_of  SQL literal: as_of of the build this model last completed (null: none)
  Models call it once (`{% set build = omni_build_state() %}`) and pass it on; unit tests
  override it with fixed values.
#}
{% macro omni_build_state() -%}
    {%- if not omni_reads_build_state() -%}
        {{ return({
            'run_seq': 0, 'watermark': 0, 'as_of': 'null::timestamptz', 'previous_as_of': 'null::timestamptz',
        }) }}
    {%- endif -%}
    {%- set query -%}
        select
            build.run_seq,
            coalesce(mark.run_seq, 0) as watermark,
            build.as_of::text as as_of,
            mark.as_of::text as previous_as_of
        from meta.dbt_runs as build
        left join meta.dbt_watermarks as mark on mark.model = '{{ omni_model_key() }}'
        where build.invocation_id = '{{ invocation_id }}'
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- if rows | length == 0 -%}
        {{ exceptions.raise_compiler_error("meta.dbt_runs has no row for this invocation: the on-run-start hook omni_on_run_start() did not run") }}
    {%- endif -%}
    {%- set row = rows[0] -%}
    {%- set incremental = is_incremental() -%}
    {{ return({
        'run_seq': row[0],
        'watermark': row[1] if incremental else 0,
        'as_of': "null::timestamptz" if row[2] is none else "'" ~ row[2] ~ "'::timestamptz",
        'previous_as_of': "null::timestamptz" if (row[3] is none or not incremental) else "'" ~ row[3] ~ "'::timestamptz",
    }) }}
{%- endmacro %}


{#
  Predicate on a raw table's `_load_id`: the loads of `feed_id` this build must read. Incremental:
  loads assigned to builds after the model's watermark; full build: every load up to this build.
  A literal id list lets PostgreSQL estimate the rows from the column's statistics. Raw tables
  have no index: the ledger records the pages of each load's rows, and the predicate starts a
  TID range at the lowest of them (new loads are at the table's end), so an incremental build
  reads the new pages only. A load without pages (loaded before the ledger kept them) may be
  anywhere. `column` is the raw table's `_load_id`, qualified as the query needs it.
#}
{% macro omni_load_filter(feed_id, build, column='_load_id') -%}
    {%- if not omni_reads_build_state() -%}true{%- else -%}
    {%- set query -%}
        select load_run.load_id, coalesce(ledger.first_page, 0)
        from meta.dbt_load_runs as load_run
        join meta.file_ledger as ledger using (load_id)
        where ledger.feed = '{{ feed_id }}'
          and load_run.run_seq > {{ build.watermark }}
          and load_run.run_seq <= {{ build.run_seq }}
        order by 1
    {%- endset -%}
    {%- set result = run_query(query) -%}
    {%- set ids = result.columns[0].values() | list -%}
    {%- if ids | length == 0 -%}
        false
    {%- else -%}
        {%- set first_page = result.columns[1].values() | min -%}
        {%- if first_page > 0 -%}
            {{ column[:-('_load_id' | length)] }}ctid >= '({{ first_page }},0)'::tid and {% endif -%}
        {{ column }} = any('{ {{- ids | join(',') -}} }'::bigint[])
    {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{#
  Post-hook of every table model: analyze it when it is new or changed much since its last
  analyze (the next models of the same build join it at once, before autovacuum would).
  The counters lag one build behind (this transaction's changes are not in them yet), which is
  enough: a new table has none and is analyzed.
#}
{% macro omni_refresh_statistics() -%}
    {%- if execute and config.get('materialized') in ('incremental', 'table') -%}
    do $$
    begin
        if coalesce((
            select coalesce(last_analyze, last_autoanalyze) is null
                or n_mod_since_analyze > greatest(1000, 0.1 * n_live_tup)
            from pg_stat_user_tables
            where relid = '{{ this }}'::regclass
        ), true) then
            analyze {{ this }};
        end if;
    end
    $$
    {%- endif -%}
{%- endmacro %}


{#
  Post-hook of every incremental model: remember the build it has processed and its as_of.
  Plain SQL (no compile-time lookups): it runs in the model's transaction, so the watermark
  moves if and only if the model's rows do.
#}
{% macro omni_record_watermark() -%}
    {%- if execute and config.get('materialized') == 'incremental' -%}
    insert into meta.dbt_watermarks (model, run_seq, as_of, updated_at)
    select
        '{{ omni_model_key() }}',
        build.run_seq,
        build.as_of,
        clock_timestamp()
    from meta.dbt_runs as build
    where build.invocation_id = '{{ invocation_id }}'
    on conflict (model) do update
        set run_seq = excluded.run_seq, as_of = excluded.as_of, updated_at = excluded.updated_at
    {%- endif -%}
{%- endmacro %}


{#
  Pre-hook of int_inventory__positions: hash and merge joins only while it builds in full. Its
  inputs are then whole tables, and PostgreSQL, which cannot see how many keys the CTE of
  positions to refresh holds, picked index nested loops for millions of them (2.4 M positions:
  103 s, against 38 s with hash joins). Its incremental builds keep every plan: their few
  changed keys are what index lookups are for. Not a project-wide setting: other models'
  full builds (int_availability__timephased) got slower plans without nested loops.
  SET LOCAL ends with the model's transaction.
#}
{% macro omni_full_build_plans() -%}
    {%- if execute and not is_incremental() -%}
    set local enable_nestloop = off
    {%- endif -%}
{%- endmacro %}
