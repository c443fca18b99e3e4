{{ config(materialized='view') }}
{#
  The purchase order pipeline: open PO lines and the units still expected at their location.
  Every line of the current snapshot is open (the feed lists open lines only); a non-positive
  qty_open contributes nothing.
#}

select
    po_id,
    po_line,
    location_id,
    sku,
    greatest(0, qty_open) as open_qty,
    expected_date,
    unit_cost,
    snapshot_ts,
    _run_seq
from {{ ref('stg_erp__purchase_orders') }}
