{#
  Feed latency per load, for drawing it over time (ops.feed_latency aggregates the same figures
  per feed): one row per loaded file of meta.file_ledger - its data time (newest
  snapshot_ts/event_ts), when the load committed, when the first dbt build that included it
  started, the minutes between them, and its feed's freshness SLA. The SLAs are the `sla_minutes`
  of the feeds' dbt sources (the feed docs), so they cannot drift from what STALE_FEED judges.
  A table, rebuilt every run.
#}
{{ config(materialized='table') }}
{%- set feed_slas = {} -%}
{%- if execute -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.meta.get('feed') and node.meta.get('sla_minutes') -%}
            {%- do feed_slas.update({node.meta['feed']: node.meta['sla_minutes']}) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with feed_slas (feed, sla_minutes) as (
    {%- for feed, sla in feed_slas | dictsort %}
    {{ 'values' if loop.first else '     ,' }} ({{ "'" ~ feed ~ "'" }}::text, {{ sla | int }}::integer)
    {%- else %}
    select
        null::text,
        null::integer
    where false
    {%- endfor %}
),

loads as (
    select
        ledger.load_id,
        coalesce(ledger.feed, 'unrouted') as feed,
        ledger.channel_id,
        ledger.file_path,
        ledger.rows_loaded,
        ledger.max_data_ts,
        ledger.loaded_at,
        builds.started_at as built_at
    from {{ ref('stg_meta__file_ledger') }} as ledger
    left join {{ source('dbt_bookkeeping', 'dbt_load_runs') }} as load_runs using (load_id)
    left join {{ source('dbt_bookkeeping', 'dbt_runs') }} as builds on load_runs.run_seq = builds.run_seq
    where ledger.load_status = 'loaded'
)

select
    loads.load_id::bigint as load_id,
    loads.feed,
    loads.channel_id,
    loads.file_path,
    loads.rows_loaded::bigint as rows_loaded,
    loads.max_data_ts,
    loads.loaded_at,
    loads.built_at,
    (extract(epoch from loads.loaded_at - loads.max_data_ts) / 60)::numeric(14, 2) as data_to_loaded_minutes,
    (extract(epoch from loads.built_at - loads.loaded_at) / 60)::numeric(14, 2) as loaded_to_built_minutes,
    (extract(epoch from loads.built_at - loads.max_data_ts) / 60)::numeric(14, 2) as data_to_built_minutes,
    feed_slas.sla_minutes,
    (extract(epoch from loads.loaded_at - loads.max_data_ts) / 60 <= feed_slas.sla_minutes) as within_sla
from loads
left join feed_slas using (feed)
