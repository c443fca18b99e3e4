{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  The stock policy of every position (erp/stock_policy; a position without one has safety stock
  0 and no reorder point). The policy feed is one snapshot of every location x sku and changes
  rarely: when a new one arrives, every position is compared and only those whose policy
  changed are written; otherwise only new positions are.
#}
{% set policy_changed = omni_changed_since_watermark(ref('stg_erp__stock_policy'), build) -%}

with positions_to_refresh as (
    select
        location_id,
        sku
    from {{ ref('int_inventory__position_keys') }}
    {%- if not policy_changed %}
    where _run_seq > {{ build.watermark }}
    {%- endif %}
),

stock_policies as (
    select
        positions_to_refresh.location_id,
        positions_to_refresh.sku,
        coalesce(policy.safety_stock, 0) as safety_stock,
        policy.reorder_point,
        policy.order_up_to,
        policy.lead_time_days,
        policy.location_id is not null as has_stock_policy
    from positions_to_refresh
    left join {{ ref('stg_erp__stock_policy') }} as policy using (location_id, sku)
),

changed as (
    {{ omni_changed_only('stock_policies', ['location_id', 'sku'],
        ['safety_stock', 'reorder_point', 'order_up_to', 'lead_time_days', 'has_stock_policy']) }}
)

select
    location_id,
    sku,
    safety_stock,
    reorder_point,
    order_up_to,
    lead_time_days,
    has_stock_policy,
    {{ build.run_seq }}::bigint as _run_seq
from changed
