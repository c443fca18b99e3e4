{{ config(
    incremental_strategy='delete+insert',
    unique_key='return_id',
    indexes=[
        {'columns': ['return_id'], 'unique': true},
        {'columns': ['location_id', 'sku']},
        {'columns': ['_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  Return status: the latest event of each return_id (greatest event_ts; at the same event_ts the
  later stage wins: inspected > received > initiated; then event_id). A store counts a return in
  `returned` while its latest status is `received` (awaiting inspection).
#}

with returns_to_refresh as (
    select distinct return_id
    from {{ ref('stg_oms__returns') }}
    where _run_seq > {{ build.watermark }}
),

latest_events as (
    select distinct on (events.return_id)
        events.return_id,
        events.return_status as latest_status,
        events.disposition,
        events.event_id as latest_event_id,
        events.event_ts as latest_event_ts,
        events.order_id,
        events.location_id,
        events.sku,
        events.return_qty
    from {{ ref('stg_oms__returns') }} as events
    {%- if is_incremental() %}
    where events.return_id in (select return_id from returns_to_refresh)
    {%- endif %}
    order by
        events.return_id asc,
        events.event_ts desc,
        case events.return_status
            when 'inspected' then 3 when 'received' then 2 when 'initiated' then 1 else 0
        end desc,
        events.event_id desc
),

changed as (
    {{ omni_changed_only('latest_events', ['return_id'],
        ['latest_status', 'disposition', 'latest_event_id', 'latest_event_ts', 'order_id', 'location_id', 'sku', 'return_qty']) }}
)

select
    return_id,
    latest_status,
    disposition,
    latest_event_id,
    latest_event_ts,
    order_id,
    location_id,
    sku,
    return_qty,
    {{ build.run_seq }}::bigint as _run_seq
from changed
