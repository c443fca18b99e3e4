{#
  Fill-rate risk: each location x sku projected to stock out within its lead time. Days to
  stock-out = atp / daily demand (28 days of sales and channel orders, the replenishment plan's
  demand); at risk when it is below the lead time (the stock policy's, 7 days without one).
  Units at risk are the demand of the lead time that atp does not cover; value at the item's
  unit cost. A table, rebuilt every run.
#}
{{ config(materialized='table') }}

with positions as (
    select location_id, sku, atp, on_hand, as_of
    from {{ ref('inventory_position') }}
),

demand as (
    select location_id, sku, daily_demand
    from {{ ref('int_replenishment__daily_demand') }}
    where daily_demand > 0
),

policies as (
    select location_id, sku, lead_time_days
    from {{ ref('int_inventory__stock_policies') }}
),

locations as (
    select location_id, region, location_type
    from {{ ref('int_locations__attributes') }}
),

items as (
    select sku, unit_cost, currency
    from {{ ref('stg_erp__items') }}
),

projected as (
    select
        positions.location_id,
        positions.sku,
        positions.atp,
        demand.daily_demand,
        coalesce(policies.lead_time_days, 7) as lead_time_days,
        positions.atp / demand.daily_demand as days_to_stockout,
        positions.as_of
    from positions
    inner join demand using (location_id, sku)
    left join policies using (location_id, sku)
)

select
    projected.location_id,
    locations.region,
    locations.location_type,
    projected.sku,
    projected.atp,
    round(projected.daily_demand, 3)::numeric(14, 3) as daily_demand,
    projected.lead_time_days,
    round(projected.days_to_stockout, 1)::numeric(14, 1) as days_to_stockout,
    ceil(projected.daily_demand * projected.lead_time_days - projected.atp)::integer as units_at_risk,
    round(ceil(projected.daily_demand * projected.lead_time_days - projected.atp) * items.unit_cost, 2)::numeric(18, 2)
        as value_at_risk,
    items.currency,
    projected.as_of
from projected
left join locations using (location_id)
left join items using (sku)
where projected.days_to_stockout < projected.lead_time_days
