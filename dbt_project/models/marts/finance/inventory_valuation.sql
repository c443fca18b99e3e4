{#
  Physical stock at standard cost: on_hand (every status bucket: damaged and quarantined units are
  still owned) x the item master's unit_cost. value is null for a sku without a cost (UNKNOWN_SKU
  surfaces it) rather than silently 0. A view: the figures live in int_finance__position_values
  (incremental, built after the quality gate) and as_of in int_finance__valuation_as_of.
#}

select
    valuation_as_of.as_of,
    position_values.location_id,
    position_values.sku,
    position_values.qty,
    position_values.unit_cost,
    position_values.value
from {{ ref('int_finance__position_values') }} as position_values
cross join {{ ref('int_finance__valuation_as_of') }} as valuation_as_of
