{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['location_id', 'sku'], 'unique': true},
        {'columns': ['sku']},
        {'columns': ['_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  The (location_id, sku) pairs known to any feed: every pair an event mentions, and every pair in
  a snapshot delivery that counted when it arrived (stg_raw__snapshot_deliveries: 'accepted'). An
  older snapshot delivered late adds nothing. The set only grows: a pair that drops out of a
  newer snapshot keeps its position (with zero stock), so an incremental build never has to
  delete a key and a full rebuild, which reads the same deliveries from raw, finds the same set.
#}
{%- set snapshot_feeds = [
    ('pos/inventory', 'pos__inventory', 'location_id', ['location_id']),
    ('wms/inventory', 'wms__inventory', 'location_id', ['location_id']),
    ('erp/stock_policy', 'erp__stock_policy', "'*'", ['location_id']),
    ('erp/purchase_orders', 'erp__purchase_orders', "'*'", ['location_id']),
    ('erp/transfers', 'erp__transfers', "'*'", ['from_location_id', 'to_location_id']),
    ('erp/book_inventory', 'erp__book_inventory', "'*'", ['location_id']),
    ('oms/order_lines', 'oms__order_lines', "'*'", ['location_id']),
] -%}
{% set event_models = ['stg_pos__sales', 'stg_wms__movements', 'stg_oms__reservations', 'stg_oms__returns'] -%}

with accepted_deliveries as (
    select
        feed,
        scope_value,
        snapshot_ts,
        load_id
    from {{ ref('stg_raw__snapshot_deliveries') }}
    where delivery_status = 'accepted'
        and _run_seq > {{ build.watermark }}
),

snapshot_keys as (
    {%- for feed_id, table, scope, location_columns in snapshot_feeds %}
    {%- set feed_loop = loop %}
    {%- for location_column in location_columns %}
    select
        delivered.{{ location_column }},
        delivered.sku
    from {{ source('raw', table) }} as delivered
    where {{ omni_load_filter(feed_id, build, 'delivered._load_id') }}
        and exists (
            select 1 from accepted_deliveries as accepted
            where accepted.feed = '{{ feed_id }}'
                and accepted.load_id = delivered._load_id
                and accepted.scope_value = {{ 'delivered.' ~ scope if scope == 'location_id' else scope }}
                and accepted.snapshot_ts = delivered.snapshot_ts
        )
    {{ 'union all' if not (feed_loop.last and loop.last) }}
    {%- endfor %}
    {%- endfor %}
),

event_keys as (
    {%- for model_name in event_models %}
    select
        location_id,
        sku
    from {{ ref(model_name) }}
    where _run_seq > {{ build.watermark }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

delivered_keys as (
    select
        location_id,
        sku
    from snapshot_keys
    union
    select
        location_id,
        sku
    from event_keys
)

select
    location_id,
    sku,
    {{ build.run_seq }}::bigint as _run_seq
from delivered_keys
where location_id is not null
    and sku is not null
{%- if is_incremental() %}
and not exists (
    select 1 from {{ this }} as known
    where known.location_id = delivered_keys.location_id and known.sku = delivered_keys.sku
)
{%- endif %}
