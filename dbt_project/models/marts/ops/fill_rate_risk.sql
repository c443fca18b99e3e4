{#
  Fill-rate risk: each location x sku projected to stock out within its lead time. The stock it
  can count on is its projected ATP at the end of the lead time (the stock policy's, 7 days
  without one; atp_timephased's figure of that day, the last of its 14 days for a longer lead
  time), which counts the transfers and purchase orders due by then. Days to stock-out = that
  projected ATP / daily demand (28 days of sales and channel orders, the replenishment plan's
  demand); at risk when below the lead time. Units at risk are the lead time's demand that the
  projected ATP does not cover, valued at the item's unit cost. A table, rebuilt every run.
#}
{{ config(materialized='table') }}

with positions as (
    select
        location_id,
        sku,
        atp,
        on_hand,
        as_of
    from {{ ref('inventory_position') }}
),

demand as (
    select
        location_id,
        sku,
        daily_demand
    from {{ ref('int_replenishment__daily_demand') }}
    where daily_demand > 0
),

policies as (
    select
        location_id,
        sku,
        lead_time_days
    from {{ ref('int_inventory__stock_policies') }}
),

locations as (
    select
        location_id,
        region,
        location_type
    from {{ ref('int_locations__attributes') }}
),

items as (
    select
        sku,
        unit_cost,
        currency
    from {{ ref('stg_erp__items') }}
),

timephased as (
    select
        location_id,
        sku,
        projected_atp_by_day
    from {{ ref('int_availability__timephased') }}
),

projected as (
    select
        positions.location_id,
        positions.sku,
        positions.atp,
        demand.daily_demand,
        coalesce(policies.lead_time_days, 7) as lead_time_days,
        coalesce(
            timephased.projected_atp_by_day[
                least(greatest(coalesce(policies.lead_time_days, 7), 1), {{ var('timephased_days') }})
            ],
            positions.atp
        ) as projected_atp,
        positions.as_of
    from positions
    inner join demand using (location_id, sku)
    left join policies using (location_id, sku)
    left join timephased using (location_id, sku)
),

at_lead_time as (
    select
        projected.*,
        projected.projected_atp / projected.daily_demand as days_to_stockout
    from projected
)

select
    projected.location_id,
    locations.region,
    locations.location_type,
    projected.sku,
    projected.atp,
    projected.projected_atp,
    round(projected.daily_demand, 3)::numeric(14, 3) as daily_demand,
    projected.lead_time_days,
    round(projected.days_to_stockout, 1)::numeric(14, 1) as days_to_stockout,
    ceil(projected.daily_demand * projected.lead_time_days - projected.projected_atp)::integer as units_at_risk,
    round(
        ceil(projected.daily_demand * projected.lead_time_days - projected.projected_atp) * items.unit_cost, 2
    )::numeric(18, 2) as value_at_risk,
    items.currency,
    projected.as_of
from at_lead_time as projected
left join locations using (location_id)
left join items using (sku)
where projected.days_to_stockout < projected.lead_time_days
