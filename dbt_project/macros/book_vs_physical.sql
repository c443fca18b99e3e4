{#
  Book (ERP) against physical (inventory_position.on_hand) per location and sku. Shared by the
  COUNT_VARIANCE rule (quality) and finance.inventory_reconciliation so that the exception and the
  finance figure can never disagree. A pair on only one side counts 0 on the other, but only once
  the ERP has delivered a book at all: without any book there is nothing to reconcile against.
  Tolerance: |variance_qty| <= var('count_variance_tolerance_units') is within tolerance.
#}
{% macro omni_book_vs_physical() -%}
    select
        coalesce(book.location_id, physical.location_id) as location_id,
        coalesce(book.sku, physical.sku) as sku,
        coalesce(book.book_qty, 0)::integer as book_qty,
        coalesce(physical.on_hand, 0)::integer as physical_qty,
        (coalesce(physical.on_hand, 0) - coalesce(book.book_qty, 0))::integer as variance_qty,
        book.book_date,
        abs(coalesce(physical.on_hand, 0) - coalesce(book.book_qty, 0))
            > {{ var('count_variance_tolerance_units') }} as beyond_tolerance
    from {{ ref('stg_erp__book_inventory') }} as book
    full outer join {{ ref('inventory_position') }} as physical
        on physical.location_id = book.location_id and physical.sku = book.sku
    where exists (select 1 from {{ ref('stg_erp__book_inventory') }})
{%- endmacro %}
