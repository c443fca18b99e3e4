{#
  Store-to-store and DC-to-store transfers that bring a position back to its order_up_to from
  donors of the same region (docs/contract.md section 4). A view: the allocation, its formulas and how
  it stays current are in int_replenishment__plan (built after the quality gate, so that what
  planners act on is the state the gate passed).
#}

select
    location_id as to_location_id,
    from_location_id,
    sku,
    qty,
    reason,
    priority,
    status
from {{ ref('int_replenishment__plan') }}
where recommendation_type = 'transfer'
