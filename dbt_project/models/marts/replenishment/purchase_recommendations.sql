{#
  What the region's donors cannot cover: the rest of each need, to be bought. Same needs, order
  and priority as transfer_recommendations (the allocation macro), so transfers + purchase = need.
  A table, rebuilt after the quality gate.
#}
{{ config(materialized='table') }}

{{ omni_replenishment_allocation() }},

covered_by_transfers as (
    select to_location_id as location_id, sku, sum(qty) as transferred_qty
    from allocations
    group by to_location_id, sku
),

uncovered as (
    select
        needs.location_id,
        needs.sku,
        needs.need_qty,
        coalesce(covered.transferred_qty, 0)::integer as transferred_qty,
        (needs.need_qty - coalesce(covered.transferred_qty, 0))::integer as qty,
        needs.priority,
        needs.projected,
        needs.reorder_point,
        needs.order_up_to,
        needs.days_of_cover,
        needs.lead_time_days,
        needs.has_open_blocking_exception
    from prioritised_needs as needs
    left join covered_by_transfers as covered using (location_id, sku)
)

select
    location_id,
    sku,
    qty,
    format(
        'projected %s below reorder point %s (order up to %s%s); need %s, region donors cover %s; lead time %s days%s',
        projected, reorder_point, order_up_to,
        case when days_of_cover is not null then format(', %s days of cover', days_of_cover) else '' end,
        need_qty, transferred_qty, lead_time_days,
        case when has_open_blocking_exception then '; held: open blocking exception on the position' else '' end
    ) as reason,
    priority,
    case when has_open_blocking_exception then 'held_for_exception' else 'recommended' end as status
from uncovered
where qty > 0
