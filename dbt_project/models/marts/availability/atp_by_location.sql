{# Available-to-promise per location and sku: the BI-facing slice of inventory_position. #}

select
    positions.location_id,
    positions.sku,
    positions.atp,
    build_as_of.as_of
from {{ ref('int_inventory__positions') }} as positions
cross join {{ ref('int_availability__as_of') }} as build_as_of
