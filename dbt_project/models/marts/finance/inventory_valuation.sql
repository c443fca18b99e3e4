{#
  Physical stock at standard cost: on_hand (every status bucket: damaged and quarantined units are
  still owned) x the item master's unit_cost. value is null for a sku without a cost (UNKNOWN_SKU
  surfaces it) rather than silently 0. A view over the positions and the item master: a stored
  copy was rewritten whole (every position) after every micro-batch.
#}

select
    positions.as_of,
    positions.location_id,
    positions.sku,
    positions.on_hand as qty,
    items.unit_cost::numeric(18, 4) as unit_cost,
    (positions.on_hand * items.unit_cost)::numeric(18, 2) as value
from {{ ref('inventory_position') }} as positions
left join {{ ref('stg_erp__items') }} as items using (sku)
