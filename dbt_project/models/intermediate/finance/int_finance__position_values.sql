{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[
        {'columns': ['location_id', 'sku'], 'unique': true},
        {'columns': ['sku']},
        {'columns': ['_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  Physical stock at standard cost per position, without as_of (finance.inventory_valuation adds
  it): on_hand x the item master's unit_cost, null when the sku has no cost, and the snapshot
  that on_hand rolls forward from (the ledger tie-out's opening). Built after the quality gate,
  so finance values the state the gate passed.

  Incremental: positions rewritten since this model's last build, and every position of a sku
  whose unit cost changed or that left the item master; only rows whose figures differ are
  written. A new item master (a snapshot of every sku) is compared per sku, through the sku index.
#}
{% set items_changed = omni_changed_since_watermark(ref('stg_erp__items'), build) -%}

with
{%- if is_incremental() %}
skus_with_a_new_cost as (
    {%- if items_changed %}
    select items.sku
    from {{ ref('stg_erp__items') }} as items
    where items._run_seq > {{ build.watermark }}
        and (
            select stored.unit_cost from {{ this }} as stored
            -- any row: every stored row of a sku carries its unit_cost
            where stored.sku = items.sku limit 1  -- noqa: AM09
        )
        is distinct from items.unit_cost::numeric(18, 4)
    union
    select valued.sku
    from ({{ omni_distinct_values(this, 'sku') }}) as valued
    where not exists (
            select 1 from {{ ref('stg_erp__items') }} as items
            where items.sku = valued.sku
        )
    {%- else %}
    select null::text as sku
    where false
    {%- endif %}
),

positions_to_refresh as (
    select
        location_id,
        sku
    from {{ ref('int_inventory__positions') }}
    where _run_seq > {{ build.watermark }}
    union
    select
        location_id,
        sku
    from {{ ref('int_inventory__positions') }}
    where sku in (select sku from skus_with_a_new_cost)
),
{%- endif %}

position_values as (
    select
        positions.location_id,
        positions.sku,
        positions.on_hand as qty,
        items.unit_cost::numeric(18, 4) as unit_cost,
        (positions.on_hand * items.unit_cost)::numeric(18, 2) as value,
        positions.source_snapshot_ts
    from {{ ref('int_inventory__positions') }} as positions
    left join {{ ref('stg_erp__items') }} as items using (sku)
    {%- if is_incremental() %}
    where (positions.location_id, positions.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
    {%- endif %}
),

changed as (
    {{ omni_changed_only(
        'position_values', ['location_id', 'sku'], ['qty', 'unit_cost', 'value', 'source_snapshot_ts']
    ) }}
)

select
    location_id,
    sku,
    qty,
    unit_cost,
    value,
    source_snapshot_ts,
    {{ build.run_seq }}::bigint as _run_seq
from changed
