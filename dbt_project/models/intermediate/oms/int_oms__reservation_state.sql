{{ config(
    incremental_strategy='delete+insert',
    unique_key='reservation_id',
    indexes=[
        {'columns': ['reservation_id'], 'unique': true},
        {'columns': ['location_id', 'sku']},
        {'columns': ['expires_at']},
        {'columns': ['_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  Reservation lifecycle: the latest event of each reservation_id (greatest event_ts; at the same
  event_ts a closing event, released/fulfilled/expired, beats created; then event_id). A
  reservation holds stock while its latest event is `created` and it has not expired at as_of
  (int_inventory__positions applies the as_of test, so this table does not move with as_of).
#}

with reservations_to_refresh as (
    select distinct reservation_id
    from {{ ref('stg_oms__reservations') }}
    where _run_seq > {{ build.watermark }}
),

latest_events as (
    select distinct on (events.reservation_id)
        events.reservation_id,
        events.event_type as latest_event_type,
        events.event_id as latest_event_id,
        events.event_ts as latest_event_ts,
        events.order_id,
        events.channel_id,
        events.location_id,
        events.sku,
        events.reserved_qty,
        events.expires_at
    from {{ ref('stg_oms__reservations') }} as events
    {%- if is_incremental() %}
    where events.reservation_id in (select reservation_id from reservations_to_refresh)
    {%- endif %}
    order by
        events.reservation_id asc,
        events.event_ts desc,
        case events.event_type when 'created' then 0 else 1 end desc,
        events.event_id desc
),

changed as (
    {{ omni_changed_only('latest_events', ['reservation_id'],
        ['latest_event_type', 'latest_event_id', 'latest_event_ts', 'order_id', 'channel_id', 'location_id', 'sku', 'reserved_qty', 'expires_at']) }}
)

select
    reservation_id,
    latest_event_type,
    latest_event_id,
    latest_event_ts,
    order_id,
    channel_id,
    location_id,
    sku,
    reserved_qty,
    expires_at,
    {{ build.run_seq }}::bigint as _run_seq
from changed
