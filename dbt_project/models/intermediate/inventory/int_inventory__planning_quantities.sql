{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Per position, what the open order lines, transfers and purchase orders say: committed (lines
  allocated or picked), units in transit in and out, open PO units, and the dated inbound
  schedule (in-transit transfers and PO units by expected date) that drives atp_timephased.
  Every position has a row (zeros when nothing is open).

  These feeds arrive as one snapshot of everything, so a new delivery does not say which
  positions it changed. The figures are therefore recomputed from the (small) feeds whenever one
  of them changed, and compared with the stored rows that hold anything: a position is written
  only when its figures differ (newly open, changed, or back to zero), so downstream models
  rebuild only those. The comparison reads the open lines and the non-zero stored rows, not
  every position (a set difference against the whole table hashed all of it: 0.5 s a batch).
#}
{% set changed_inputs = [] -%}
{% for input in [ref('stg_oms__order_lines'), ref('stg_erp__transfers'), ref('stg_erp__purchase_orders')] -%}
{%- if omni_changed_since_watermark(input, build) -%}{%- do changed_inputs.append(input) -%}{%- endif -%}
{%- endfor %}
{% set supply_changed = changed_inputs | length > 0 -%}

with committed_lines as (
    select
        location_id,
        sku,
        sum(qty_open) as committed
    from {{ ref('stg_oms__order_lines') }}
    where line_status in ('allocated', 'picked') and qty_open <> 0
    group by location_id, sku
),

transfers_in as (
    select
        to_location_id as location_id,
        sku,
        sum(in_transit_qty) as in_transit_in
    from {{ ref('int_supply__transfer_lines') }}
    where in_transit_qty > 0
    group by to_location_id, sku
),

transfers_out as (
    select
        from_location_id as location_id,
        sku,
        sum(in_transit_qty) as in_transit_out
    from {{ ref('int_supply__transfer_lines') }}
    where in_transit_qty > 0
    group by from_location_id, sku
),

purchase_orders as (
    select
        location_id,
        sku,
        sum(open_qty) as on_order
    from {{ ref('int_supply__purchase_order_lines') }}
    where open_qty > 0
    group by location_id, sku
),

inbound_by_date as (
    select
        location_id,
        sku,
        expected_date,
        sum(qty) as qty
    from (
        select
            to_location_id as location_id,
            sku,
            expected_date,
            in_transit_qty as qty
        from {{ ref('int_supply__transfer_lines') }}
        where in_transit_qty > 0 and expected_date is not null
        union all
        select
            location_id,
            sku,
            expected_date,
            open_qty as qty
        from {{ ref('int_supply__purchase_order_lines') }}
        where open_qty > 0 and expected_date is not null
    ) as inbound_lines
    group by location_id, sku, expected_date
),

inbound_schedules as (
    select
        location_id,
        sku,
        jsonb_object_agg(expected_date::text, qty order by expected_date) as inbound_schedule
    from inbound_by_date
    group by location_id, sku
),

open_quantities as (
    -- only positions with something open (a small set, whatever the number of positions)
    select
        location_id,
        sku,
        coalesce(committed_lines.committed, 0)::integer as committed,
        coalesce(transfers_in.in_transit_in, 0)::integer as in_transit_in,
        coalesce(transfers_out.in_transit_out, 0)::integer as in_transit_out,
        coalesce(purchase_orders.on_order, 0)::integer as on_order,
        coalesce(inbound_schedules.inbound_schedule, '{}'::jsonb) as inbound_schedule
    from committed_lines
    full join transfers_in using (location_id, sku)
    full join transfers_out using (location_id, sku)
    full join purchase_orders using (location_id, sku)
    full join inbound_schedules using (location_id, sku)
    where location_id is not null and sku is not null
),

positions_to_refresh as (
    {%- if is_incremental() %}
    select
        location_id,
        sku
    from {{ ref('int_inventory__position_keys') }}
    where _run_seq > {{ build.watermark }}
    {%- if supply_changed %}
    union
    -- positions whose open quantities differ from the stored ones, in either direction: the
    -- open figures against the stored rows that hold anything (one filtered scan of this
    -- table; a stored row of zeros differs from an open figure through the full join)
    select
        location_id,
        sku  -- the full join's USING columns: whichever side has the key
    from open_quantities
    -- the stored rows that hold anything, inline: they matter only to this comparison
    full join (  -- noqa: ST05
        select
            location_id,
            sku,
            committed,
            in_transit_in,
            in_transit_out,
            on_order,
            inbound_schedule
        from {{ this }}
        where committed <> 0 or in_transit_in <> 0 or in_transit_out <> 0 or on_order <> 0
            or inbound_schedule <> '{}'::jsonb
    ) as stored_open using (location_id, sku)
    where (
        open_quantities.committed, open_quantities.in_transit_in, open_quantities.in_transit_out,
        open_quantities.on_order, open_quantities.inbound_schedule
    )
    is distinct from
    (
        stored_open.committed, stored_open.in_transit_in, stored_open.in_transit_out,
        stored_open.on_order, stored_open.inbound_schedule
    )
    {%- endif %}
    {%- else %}
    select
        location_id,
        sku
    from {{ ref('int_inventory__position_keys') }}
    {%- endif %}
),

planning_quantities as (
    select
        positions_to_refresh.location_id,
        positions_to_refresh.sku,
        coalesce(open_quantities.committed, 0) as committed,
        coalesce(open_quantities.in_transit_in, 0) as in_transit_in,
        coalesce(open_quantities.in_transit_out, 0) as in_transit_out,
        coalesce(open_quantities.on_order, 0) as on_order,
        coalesce(open_quantities.inbound_schedule, '{}'::jsonb) as inbound_schedule
    from positions_to_refresh
    {%- if is_incremental() %}
    -- every open line's pair is a known position (position_keys holds the pairs of every
    -- accepted snapshot); the lookup keeps that an invariant rather than an assumption (per key
    -- through the unique index: as a join, PostgreSQL hashed all positions for a few changes)
cross join
    lateral (
        select 1 from {{ ref('int_inventory__position_keys') }} as known
        where known.location_id = positions_to_refresh.location_id and known.sku = positions_to_refresh.sku
        -- an existence probe: any row will do
        limit 1  -- noqa: AM09
    ) as known
    {%- endif %}
    left join open_quantities using (location_id, sku)
),

changed as (
    {{ omni_changed_only('planning_quantities', ['location_id', 'sku'],
        ['committed', 'in_transit_in', 'in_transit_out', 'on_order', 'inbound_schedule']) }}
)

select
    location_id,
    sku,
    committed,
    in_transit_in,
    in_transit_out,
    on_order,
    inbound_schedule,
    {{ build.run_seq }}::bigint as _run_seq
from changed
