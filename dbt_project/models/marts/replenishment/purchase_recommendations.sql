{#
  What the region's donors cannot cover: the rest of each need, to be bought. Same needs, order
  and priority as transfer_recommendations (one allocation, in int_replenishment__plan), so
  transfers + purchase = need. A view.
#}

select
    location_id,
    sku,
    qty,
    reason,
    priority,
    status
from {{ ref('int_replenishment__plan') }}
where recommendation_type = 'purchase'
