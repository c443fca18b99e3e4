{# Network-wide available-to-promise per sku, net of unallocated marketplace orders. #}

select
    network.sku,
    network.atp,
    build_as_of.as_of
from {{ ref('int_availability__network_atp') }} as network
cross join {{ ref('int_availability__as_of') }} as build_as_of
