{#
  Everything replenishment needs per position (docs/replenishment-finance.md):
  projected = available - reserved - committed + in_transit_in + on_order;
  need = order_up_to - projected when projected < reorder_point (positions with a stock policy);
  donor_excess = atp - reorder_point when atp > reorder_point, at DCs and stores only, never at a
  pair with an open blocking exception (its figures are in doubt);
  daily_demand = net till sales (stores) or warehouse shipments (DCs/FCs) of the 28 days up to
  as_of, divided by 28; days_of_cover = projected / daily_demand (null without demand);
  priority 1 when projected <= 0 or days_of_cover < lead_time_days (it runs out before a
  purchase could arrive), 2 when days_of_cover < 2 x lead_time_days, else 3.
#}
{% macro omni_replenishment_positions() -%}
    select
        positions.location_id,
        positions.sku,
        positions.as_of,
        locations.region,
        locations.location_type,
        policies.reorder_point,
        policies.order_up_to,
        coalesce(policies.lead_time_days, 0) as lead_time_days,
        positions.atp,
        positions.available - positions.reserved - positions.committed
            + positions.in_transit_in + positions.on_order as projected,
        exists (
            select 1 from ({{ omni_open_blocking_exceptions() }}) as exceptions
            where exceptions.location_id = positions.location_id and exceptions.sku = positions.sku
        ) as has_open_blocking_exception
    from {{ ref('inventory_position') }} as positions
    join {{ ref('int_inventory__stock_policies') }} as policies using (location_id, sku)
    left join {{ ref('int_locations__attributes') }} as locations using (location_id)
    where policies.has_stock_policy and policies.reorder_point is not null
{%- endmacro %}


{% macro omni_daily_demand() -%}
    {#- Units that left the location in the 28 days up to as_of: till sales net of till returns,
        and warehouse shipments (negative movements of type shipment). -#}
    select location_id, sku, greatest(0, sum(units))::numeric / 28 as daily_demand
    from (
        select sales.location_id, sales.sku, sales.sold_qty as units
        from {{ ref('stg_pos__sales') }} as sales
        cross join {{ ref('int_availability__as_of') }} as build_as_of
        where sales.event_ts > build_as_of.as_of - interval '28 days' and sales.event_ts <= build_as_of.as_of
        union all
        select movements.location_id, movements.sku, -movements.qty_change as units
        from {{ ref('stg_wms__movements') }} as movements
        cross join {{ ref('int_availability__as_of') }} as build_as_of
        where movements.movement_type = 'shipment'
          and movements.event_ts > build_as_of.as_of - interval '28 days' and movements.event_ts <= build_as_of.as_of
    ) as outflows
    group by location_id, sku
{%- endmacro %}


{#
  Set-based allocation of donors' excess to needs, per (region, sku). Needs are ordered by
  (held last, priority, days_of_cover with no demand last, to_location_id); donors by (DC before
  store, larger excess first, location_id). Each side becomes consecutive intervals on one axis
  (cumulative sum of need / of excess); a transfer is the overlap of a need's interval with a
  donor's. Deterministic, no loop, never above a donor's excess (its floor) or a need.
#}
{% macro omni_replenishment_allocation() -%}
with replenishment_positions as (
    {{ omni_replenishment_positions() }}
),

daily_demand as (
    {{ omni_daily_demand() }}
),

needs as (
    select
        positions.location_id,
        positions.sku,
        positions.region,
        positions.as_of,
        positions.projected,
        positions.reorder_point,
        positions.order_up_to,
        positions.lead_time_days,
        (positions.order_up_to - positions.projected)::integer as need_qty,
        positions.has_open_blocking_exception,
        case when demand.daily_demand > 0 then round(positions.projected / demand.daily_demand, 1) end
            as days_of_cover
    from replenishment_positions as positions
    left join daily_demand as demand using (location_id, sku)
    where positions.projected < positions.reorder_point
      and positions.order_up_to > positions.projected
),

prioritised_needs as (
    select
        needs.*,
        case
            when projected <= 0 or days_of_cover < lead_time_days then 1
            when days_of_cover < 2 * lead_time_days then 2
            else 3
        end as priority
    from needs
),

needs_on_axis as (
    select
        prioritised_needs.*,
        sum(need_qty) over need_order - need_qty as need_start,
        sum(need_qty) over need_order as need_end
    from prioritised_needs
    window need_order as (
        partition by region, sku
        order by has_open_blocking_exception, priority, days_of_cover nulls last, location_id
        rows between unbounded preceding and current row
    )
),

donors as (
    select
        location_id,
        sku,
        region,
        location_type,
        atp,
        reorder_point,
        (atp - reorder_point)::integer as excess_qty,
        case location_type when 'dc' then 1 else 2 end as donor_rank
    from replenishment_positions
    where location_type in ('dc', 'store')
      and atp > reorder_point
      and not has_open_blocking_exception
),

donors_on_axis as (
    select
        donors.*,
        sum(excess_qty) over donor_order - excess_qty as excess_start,
        sum(excess_qty) over donor_order as excess_end
    from donors
    window donor_order as (
        partition by region, sku
        order by donor_rank, excess_qty desc, location_id
        rows between unbounded preceding and current row
    )
),

allocations as (
    select
        needs_on_axis.location_id as to_location_id,
        donors_on_axis.location_id as from_location_id,
        needs_on_axis.sku,
        (least(needs_on_axis.need_end, donors_on_axis.excess_end)
            - greatest(needs_on_axis.need_start, donors_on_axis.excess_start))::integer as qty,
        needs_on_axis.priority,
        needs_on_axis.has_open_blocking_exception,
        needs_on_axis.projected,
        needs_on_axis.reorder_point,
        needs_on_axis.order_up_to,
        needs_on_axis.days_of_cover,
        donors_on_axis.location_type as donor_type,
        donors_on_axis.atp as donor_atp,
        donors_on_axis.reorder_point as donor_reorder_point
    from needs_on_axis
    join donors_on_axis
        on donors_on_axis.region = needs_on_axis.region
       and donors_on_axis.sku = needs_on_axis.sku
       and donors_on_axis.location_id <> needs_on_axis.location_id
       and donors_on_axis.excess_start < needs_on_axis.need_end
       and donors_on_axis.excess_end > needs_on_axis.need_start
)
{%- endmacro %}


{#
  (location_id, sku) pairs with an open blocking exception. quality.inventory_exceptions is built by
  a Dagster asset (not dbt); before it first runs the table does not exist, and then no pair is
  known to be held (close_readiness separately refuses to call a period ready without it:
  omni_exceptions_assessed()). source() is called unconditionally so the lineage is recorded.
#}
{% macro omni_open_blocking_exceptions() -%}
    {%- set exceptions = source('quality', 'inventory_exceptions') -%}
    {%- if omni_exceptions_assessed() -%}
    select location_id, sku, exception_type
    from {{ exceptions }}
    where status = 'open' and severity = 'blocking'
    {%- else -%}
    select null::text as location_id, null::text as sku, null::text as exception_type
    where false
    {%- endif -%}
{%- endmacro %}


{% macro omni_exceptions_assessed() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema='quality', identifier='inventory_exceptions') -%}
    {{ return(relation is not none) }}
{%- endmacro %}
