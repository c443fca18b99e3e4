{#
  Can a legal entity close its period? subledger_value = valued physical stock of its locations
  + owned in-transit (shipped transfers not yet received, valued at unit_cost and owned by the
  sending location's entity until received). variance = subledger_value - gl_balance (all GL
  accounts of the feed for the entity and period). close_ready when |variance| <=
  var('close_variance_tolerance_value'), no blocking exception is open at its locations, and
  quality.inventory_exceptions exists (quality has assessed the data).
  The subledger is valued at as_of: the row that matters is the period under close.
#}
{{ config(materialized='table') }}

with locations as (
    select
        location_id,
        legal_entity
    from {{ ref('int_locations__attributes') }}
),

gl_by_entity as (
    select
        legal_entity,
        period,
        sum(balance)::numeric(18, 2) as gl_balance
    from {{ ref('stg_erp__gl_balances') }}
    group by legal_entity, period
),

on_hand_value as (
    select
        locations.legal_entity,
        sum(valuation.value) as value
    from {{ ref('inventory_valuation') }} as valuation
    inner join locations using (location_id)
    group by locations.legal_entity
),

owned_in_transit_value as (
    select
        locations.legal_entity,
        sum(transfers.in_transit_qty * items.unit_cost) as value
    from {{ ref('int_supply__transfer_lines') }} as transfers
    inner join locations on transfers.from_location_id = locations.location_id
    left join {{ ref('stg_erp__items') }} as items using (sku)
    where transfers.in_transit_qty > 0
    group by locations.legal_entity
),

open_blocking as (
    select
        locations.legal_entity,
        count(*) as open_blocking_exceptions
    from ({{ omni_open_blocking_exceptions() }}) as exceptions
    inner join locations using (location_id)
    group by locations.legal_entity
),

readiness as (
    select
        gl.period,
        gl.legal_entity,
        gl.gl_balance,
        (coalesce(on_hand_value.value, 0) + coalesce(owned_in_transit_value.value, 0))::numeric(18, 2)
            as subledger_value,
        coalesce(open_blocking.open_blocking_exceptions, 0)::integer as open_blocking_exceptions
    from gl_by_entity as gl
    left join on_hand_value using (legal_entity)
    left join owned_in_transit_value using (legal_entity)
    left join open_blocking using (legal_entity)
)

select
    period,
    legal_entity,
    gl_balance,
    subledger_value,
    (subledger_value - gl_balance)::numeric(18, 2) as variance,
    open_blocking_exceptions,
    -- Never ready before quality has assessed the data (no exceptions table yet).
    {{ 'true' if omni_exceptions_assessed() else 'false' }}
    and abs(subledger_value - gl_balance) <= {{ var('close_variance_tolerance_value') }}
    and open_blocking_exceptions = 0 as close_ready
from readiness
