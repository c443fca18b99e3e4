{{ config(materialized='view') }}
{#
  The transfer pipeline: each transfer line with the units still on the road. Only a `shipped`
  transfer is in transit: qty - received_qty (a partial receipt leaves the rest in transit),
  never below zero (an over-receipt is a count problem, not negative transit). requested and
  approved transfers have not left; received and cancelled ones are done. expected_date is the
  UTC date the transfer is due at its destination (none when the ERP gives no expected_at).
#}

select
    transfer_id,
    sku,
    from_location_id,
    to_location_id,
    transfer_status,
    transfer_qty,
    coalesce(received_qty, 0) as received_qty,
    case
        when transfer_status = 'shipped' then greatest(0, transfer_qty - coalesce(received_qty, 0))
        else 0
    end as in_transit_qty,
    shipped_at,
    expected_at,
    (expected_at at time zone 'UTC')::date as expected_date,
    snapshot_ts,
    _run_seq
from {{ ref('stg_erp__transfers') }}
