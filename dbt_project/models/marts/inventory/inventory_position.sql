{#
  The canonical inventory position, one row per (location_id, sku) known to any feed, as of the
  newest data loaded. A view: the figures live in int_inventory__positions (incremental, one row
  rewritten only when its figures change) and as_of in the one-row int_availability__as_of.
#}

select
    positions.location_id,
    positions.sku,
    positions.on_hand,
    positions.damaged,
    positions.quarantined,
    positions.returned,
    positions.available,
    positions.reserved,
    positions.committed,
    positions.in_transit_in,
    positions.in_transit_out,
    positions.on_order,
    positions.safety_stock,
    positions.atp,
    positions.shortfall,
    build_as_of.as_of,
    positions.source_snapshot_ts
from {{ ref('int_inventory__positions') }} as positions
cross join {{ ref('int_availability__as_of') }} as build_as_of
