{#
  ERP book quantity against the physical position (the same comparison as the COUNT_VARIANCE rule,
  macro omni_book_vs_physical): variance_qty = physical_qty - book_qty, valued at unit_cost.
  status = variance when |variance_qty| > var('count_variance_tolerance_units').
#}
{{ config(materialized='table') }}

with book_vs_physical as (
    {{ omni_book_vs_physical() }}
)

select
    book_vs_physical.location_id,
    book_vs_physical.sku,
    book_vs_physical.book_qty,
    book_vs_physical.physical_qty,
    book_vs_physical.variance_qty,
    (book_vs_physical.variance_qty * items.unit_cost)::numeric(18, 2) as variance_value,
    case when book_vs_physical.beyond_tolerance then 'variance' else 'within_tolerance' end as status
from book_vs_physical
left join {{ ref('stg_erp__items') }} as items using (sku)
