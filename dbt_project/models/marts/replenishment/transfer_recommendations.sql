{#
  Store-to-store and DC-to-store transfers that bring a position back to its order_up_to from
  donors of the same region (CONTRACT.md section 4; allocation and priority formulas in
  macros/replenishment.sql and docs/replenishment-finance.md). A table, rebuilt after the quality
  gate, so that what planners act on is the state the gate passed.
#}
{{ config(materialized='table') }}

{{ omni_replenishment_allocation() }}

select
    to_location_id,
    from_location_id,
    sku,
    qty,
    format(
        'projected %s below reorder point %s (order up to %s%s); %s %s has atp %s above its reorder point %s%s',
        projected, reorder_point, order_up_to,
        case when days_of_cover is not null then format(', %s days of cover', days_of_cover) else '' end,
        donor_type, from_location_id, donor_atp, donor_reorder_point,
        case when has_open_blocking_exception then '; held: open blocking exception on the receiving position' else '' end
    ) as reason,
    priority,
    case when has_open_blocking_exception then 'held_for_exception' else 'recommended' end as status
from allocations
where qty > 0
