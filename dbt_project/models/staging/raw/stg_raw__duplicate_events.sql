{{ config(
    incremental_strategy='append',
    indexes=[{'columns': ['feed', 'load_id', 'row_number'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Every repeated delivery of an event_id: the raw row that did not count, next to the first
  delivery that did (the one staged). Feeds the DUPLICATE_EVENT exception; is_identical tells a
  harmless re-send from a conflicting reuse of an id.
#}
{%- set event_feeds = [
    ('wms/movements', 'wms__movements', 'stg_wms__movements',
        [('location_id', 'location_id'), ('sku', 'sku'), ('movement_type', 'movement_type'), ('qty', 'qty_change'), ('status', 'stock_status'), ('reference', 'reference')]),
    ('pos/sales', 'pos__sales', 'stg_pos__sales',
        [('location_id', 'location_id'), ('sku', 'sku'), ('qty', 'sold_qty')]),
    ('oms/reservations', 'oms__reservations', 'stg_oms__reservations',
        [('reservation_id', 'reservation_id'), ('event_type', 'event_type'), ('order_id', 'order_id'), ('channel_id', 'channel_id'), ('location_id', 'location_id'), ('sku', 'sku'), ('qty', 'reserved_qty'), ('expires_at', 'expires_at')]),
    ('oms/returns', 'oms__returns', 'stg_oms__returns',
        [('return_id', 'return_id'), ('order_id', 'order_id'), ('sku', 'sku'), ('location_id', 'location_id'), ('qty', 'return_qty'), ('status', 'return_status'), ('disposition', 'disposition')]),
    ('channel/orders', 'channel__orders', 'stg_channel__orders',
        [('channel_id', 'channel_id'), ('order_id', 'order_id'), ('sku', 'sku'), ('qty', 'order_qty'), ('status', 'order_status')]),
] -%}

with repeated_deliveries as (
    {%- for feed_id, table, staged_model, pairs in event_feeds %}
    select
        '{{ feed_id }}'::text as feed,
        delivered.event_id,
        delivered._load_id as load_id,
        delivered._row_number as row_number,
        delivered.event_ts,
        staged._load_id as first_load_id,
        staged._row_number as first_row_number,
        -- in parentheses: sqlfluff's postgres grammar cannot parse a bare row comparison with
        -- is not distinct from as a select target (sqlfluff/sqlfluff#3284)
        (
            (
                delivered.event_ts
                {%- for raw_col, _ in pairs %},
                delivered.{{ raw_col }}
                {%- endfor %}
            ) is not distinct from (
                staged.event_ts
                {%- for _, staged_col in pairs %},
                staged.{{ staged_col }}
                {%- endfor %}
            )
        ) as is_identical
    from {{ source('raw', table) }} as delivered
    inner join {{ ref(staged_model) }} as staged on delivered.event_id = staged.event_id
    where {{ omni_load_filter(feed_id, build, 'delivered._load_id') }}
        and (staged._load_id, staged._row_number) <> (delivered._load_id, delivered._row_number)
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select
    feed,
    event_id,
    load_id,
    row_number,
    event_ts,
    first_load_id,
    first_row_number,
    is_identical,
    {{ build.run_seq }}::bigint as _run_seq
from repeated_deliveries
