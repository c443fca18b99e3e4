{#
  How long data takes to arrive and to be built, per feed: for each loaded file, data time (its
  newest snapshot_ts/event_ts) -> loaded_at (the load committed, meta.file_ledger) -> built (the
  start of the first dbt build that included the load, meta.dbt_load_runs / meta.dbt_runs).
  Minutes; average, 95th percentile and maximum over the feed's loaded files, plus file counts by
  load status. A table, rebuilt every run.
#}
{{ config(materialized='table') }}

with files as (
    select
        coalesce(ledger.feed, 'unrouted') as feed,
        ledger.load_status,
        ledger.max_data_ts,
        ledger.loaded_at,
        builds.started_at as built_at
    from {{ ref('stg_meta__file_ledger') }} as ledger
    left join {{ source('dbt_bookkeeping', 'dbt_load_runs') }} as load_runs using (load_id)
    left join {{ source('dbt_bookkeeping', 'dbt_runs') }} as builds on load_runs.run_seq = builds.run_seq
),

file_latencies as (
    select
        feed,
        load_status,
        max_data_ts,
        loaded_at,
        built_at,
        extract(epoch from loaded_at - max_data_ts) / 60 as data_to_loaded_minutes,
        extract(epoch from built_at - loaded_at) / 60 as loaded_to_built_minutes,
        extract(epoch from built_at - max_data_ts) / 60 as data_to_built_minutes
    from files
)

select
    feed,
    count(*) filter (where load_status = 'loaded')::integer as files_loaded,
    count(*) filter (where load_status = 'quarantined')::integer as files_quarantined,
    count(*) filter (where load_status = 'duplicate')::integer as files_duplicate,
    max(max_data_ts) filter (where load_status = 'loaded') as newest_data_ts,
    max(loaded_at) filter (where load_status = 'loaded') as last_loaded_at,
    max(built_at) filter (where load_status = 'loaded') as last_built_at,
    avg(data_to_loaded_minutes) filter (where load_status = 'loaded')::numeric(14, 2) as avg_data_to_loaded_minutes,
    (
        percentile_cont(0.95) within group (order by data_to_loaded_minutes)
        filter (where load_status = 'loaded')
    )::numeric(14, 2
    ) as p95_data_to_loaded_minutes,
    max(data_to_loaded_minutes) filter (where load_status = 'loaded')::numeric(14, 2) as max_data_to_loaded_minutes,
    avg(loaded_to_built_minutes) filter (where load_status = 'loaded')::numeric(14, 2) as avg_loaded_to_built_minutes,
    (
        percentile_cont(0.95) within group (order by loaded_to_built_minutes)
        filter (where load_status = 'loaded')
    )::numeric(14, 2
    ) as p95_loaded_to_built_minutes,
    max(loaded_to_built_minutes) filter (where load_status = 'loaded')::numeric(14, 2) as max_loaded_to_built_minutes,
    avg(data_to_built_minutes) filter (where load_status = 'loaded')::numeric(14, 2) as avg_data_to_built_minutes,
    (
        percentile_cont(0.95) within group (order by data_to_built_minutes)
        filter (where load_status = 'loaded')
    )::numeric(14, 2
    ) as p95_data_to_built_minutes,
    max(data_to_built_minutes) filter (where load_status = 'loaded')::numeric(14, 2) as max_data_to_built_minutes
from file_latencies
group by feed
