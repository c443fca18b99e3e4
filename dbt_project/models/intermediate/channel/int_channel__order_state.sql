{{ config(
    incremental_strategy='delete+insert',
    unique_key=['channel_id', 'order_id', 'sku'],
    indexes=[
        {'columns': ['channel_id', 'order_id', 'sku'], 'unique': true},
        {'columns': ['sku', 'channel_id']},
        {'columns': ['_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  Channel order status: the latest event of each channel order line (channel_id, order_id, sku):
  greatest event_ts; at the same event_ts the later stage wins (cancelled > allocated >
  accepted); then event_id. An order whose latest status is `accepted` is not allocated to a
  location yet: it consumes the channel's available-to-sell and the network ATP.
#}

with orders_to_refresh as (
    select distinct
        channel_id,
        order_id,
        sku
    from {{ ref('stg_channel__orders') }}
    where _run_seq > {{ build.watermark }}
),

latest_events as (
    select distinct on (events.channel_id, events.order_id, events.sku)
        events.channel_id,
        events.order_id,
        events.sku,
        events.order_status as latest_status,
        events.order_qty,
        events.event_id as latest_event_id,
        events.event_ts as latest_event_ts
    from {{ ref('stg_channel__orders') }} as events
    {%- if is_incremental() %}
    where (events.channel_id, events.order_id, events.sku) in (
            select
                channel_id,
                order_id,
                sku
            from orders_to_refresh
        )
    {%- endif %}
    order by
        events.channel_id asc,
        events.order_id asc,
        events.sku asc,
        events.event_ts desc,
        case events.order_status when 'cancelled' then 3 when 'allocated' then 2 when 'accepted' then 1 else 0 end desc,
        events.event_id desc
),

changed as (
    {{ omni_changed_only('latest_events', ['channel_id', 'order_id', 'sku'],
        ['latest_status', 'order_qty', 'latest_event_id', 'latest_event_ts']) }}
)

select
    channel_id,
    order_id,
    sku,
    latest_status,
    order_qty,
    latest_event_id,
    latest_event_ts,
    {{ build.run_seq }}::bigint as _run_seq
from changed
