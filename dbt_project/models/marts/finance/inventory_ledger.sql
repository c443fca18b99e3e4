{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='fail',
    indexes=[
        {'columns': ['movement_id']},
        {'columns': ['location_id', 'sku']},
        {'columns': ['posted_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  The inventory subledger: every quantity movement, valued at the item master's unit_cost.
  Append-only: a build posts the movements not posted yet (entry_type original, ledger_entry_id =
  movement_id) and, for a posted movement whose quantity or value is now different (a transfer
  received later, a cost change, a return changing its figures), a reversal of what was posted and
  a correction with the current figures. A posted row is never updated or deleted, and
  full_refresh=false keeps `--full-refresh` from rebuilding it.

  On-hand movements come from the system each location's position rolls forward from
  (int_locations__attributes.stock_system), so that the ledger explains the position:
  - till (stores): pos/sales (sale; negative qty = till_return) and oms/returns received at the
    store (customer_return into the awaiting-inspection bucket, return_inspected out of it with the
    disposition; the till never counts that bucket);
  - warehouse (DCs, FCs): every wms/movements event on its status bucket (receipt, shipment,
    adjustment, damage, damage_write_off, return_receipt with the bucket as disposition,
    transfer_in, transfer_out).
  In-transit movements come from erp/transfers (shipped, received, transit_loss on the sending
  location's in_transit account: the sender owns the units until they arrive).
  Candidates: events loaded since the watermark, returns whose state changed, transfer lines
  restaged since (a new transfers snapshot restages every line), and every movement of a sku whose
  item row changed (its cost), each read through its `_run_seq` index: reading every sale and
  transfer line cost a micro-batch 2 s at the seed's scale.
#}

with locations as (
    select
        location_id,
        stock_system,
        legal_entity
    from {{ ref('int_locations__attributes') }}
),

items as (
    select
        sku,
        unit_cost::numeric(18, 4) as unit_cost
    from {{ ref('stg_erp__items') }}
),

repriced_skus as (
    select sku from {{ ref('stg_erp__items') }}
    where _run_seq > {{ build.watermark }}
),

transfer_lines as (
    select
        transfer_id,
        sku,
        from_location_id,
        to_location_id,
        transfer_status,
        transfer_qty,
        received_qty,
        shipped_at,
        snapshot_ts,
        _run_seq
    from {{ ref('int_supply__transfer_lines') }}
),

changed_transfer_lines as (
    {{ omni_rewritten_or_repriced('transfer_lines', build.watermark, 'repriced_skus') }}
),

sales_to_post as (
    {{ omni_rewritten_or_repriced(ref('stg_pos__sales'), build.watermark, 'repriced_skus') }}
),

warehouse_movements_to_post as (
    {{ omni_rewritten_or_repriced(ref('stg_wms__movements'), build.watermark, 'repriced_skus') }}
),

return_states_to_post as (
    {{ omni_rewritten_or_repriced(ref('int_oms__return_state'), build.watermark, 'repriced_skus') }}
),

till_sales as (
    select
        'pos/sales:' || sales.event_id as movement_id,
        case when sales.sold_qty < 0 then 'till_return' else 'sale' end as movement_type,
        'on_hand' as account,
        sales.location_id,
        sales.sku,
        null::text as counterparty_location_id,
        null::text as stock_status,
        null::text as disposition,
        'pos/sales' as source_feed,
        sales.event_id as source_reference,
        sales.event_ts,
        -sales.sold_qty as qty
    from sales_to_post as sales
    inner join locations on sales.location_id = locations.location_id and locations.stock_system = 'pos'
    where sales.sku is not null
),

warehouse_movements as (
    select
        'wms/movements:' || movements.event_id as movement_id,
        case
            when movements.movement_type in ('damage', 'adjustment')
                and movements.stock_status = 'damaged' and movements.qty_change < 0 then 'damage_write_off'
            else movements.movement_type
        end as movement_type,
        'on_hand' as account,
        movements.location_id,
        movements.sku,
        case movements.movement_type
            when 'transfer_out' then transfers.to_location_id
            when 'transfer_in' then transfers.from_location_id
        end as counterparty_location_id,
        movements.stock_status,
        case
            when movements.movement_type <> 'return_receipt' then null
            when movements.stock_status = 'available' then 'restock'
            when movements.stock_status = 'damaged' then 'damaged'
            when movements.stock_status in ('quarantine', 'on_hold') then 'quarantine'
            else 'awaiting_inspection'
        end as disposition,
        'wms/movements' as source_feed,
        movements.event_id as source_reference,
        movements.event_ts,
        movements.qty_change as qty
    from warehouse_movements_to_post as movements
    inner join locations on movements.location_id = locations.location_id and locations.stock_system = 'wms'
    left join transfer_lines as transfers
        on movements.movement_type in ('transfer_in', 'transfer_out')
            and movements.reference = transfers.transfer_id and movements.sku = transfers.sku
    where movements.sku is not null
),

store_returns as (
    -- A store holds a return from its receipt until its inspection (int_inventory__positions:
    -- returns whose latest status is received); figures from the return's latest state.
    select
        state.return_id,
        state.location_id,
        state.sku,
        coalesce(state.return_qty, 0) as return_qty,
        state.latest_status,
        state.disposition,
        state.latest_event_ts,
        (
            select min(events.event_ts) from {{ ref('stg_oms__returns') }} as events
            where events.return_id = state.return_id and events.return_status = 'received'
        ) as received_ts
    from return_states_to_post as state
    inner join locations on state.location_id = locations.location_id and locations.stock_system = 'pos'
    where state.latest_status in ('received', 'inspected')
        and state.sku is not null
),

store_return_movements as (
    select
        'oms/returns:' || return_id || ':received' as movement_id,
        'customer_return' as movement_type,
        'on_hand' as account,
        location_id,
        sku,
        null::text as counterparty_location_id,
        'returned' as stock_status,
        'awaiting_inspection' as disposition,
        'oms/returns' as source_feed,
        return_id as source_reference,
        received_ts as event_ts,
        return_qty as qty
    from store_returns
    where received_ts is not null
    union all
    select
        'oms/returns:' || return_id || ':inspected',
        'return_inspected',
        'on_hand',
        location_id,
        sku,
        null::text,
        'returned',
        coalesce(disposition, 'unknown'),
        'oms/returns',
        return_id,
        latest_event_ts,
        -return_qty
    from store_returns
    where received_ts is not null and latest_status = 'inspected'
),

in_transit_movements as (
    -- Shipped units sit on the sender's in_transit account until received; a received transfer
    -- whose receipt fell short loses the rest in transit.
    select
        'erp/transfers:' || transfer_id || ':' || sku || ':shipped' as movement_id,
        'transfer_shipped' as movement_type,
        'in_transit' as account,
        from_location_id as location_id,
        sku,
        to_location_id as counterparty_location_id,
        null::text as stock_status,
        null::text as disposition,
        'erp/transfers' as source_feed,
        transfer_id as source_reference,
        coalesce(shipped_at, snapshot_ts) as event_ts,
        transfer_qty as qty
    from changed_transfer_lines
    where transfer_status in ('shipped', 'received')
    union all
    select
        'erp/transfers:' || transfer_id || ':' || sku || ':received',
        'transfer_received',
        'in_transit',
        from_location_id,
        sku,
        to_location_id,
        null,
        null,
        'erp/transfers',
        transfer_id,
        snapshot_ts,
        -least(received_qty, transfer_qty)
    from changed_transfer_lines
    where transfer_status in ('shipped', 'received') and received_qty > 0
    union all
    select
        'erp/transfers:' || transfer_id || ':' || sku || ':transit_loss',
        'transit_loss',
        'in_transit',
        from_location_id,
        sku,
        to_location_id,
        null,
        null,
        'erp/transfers',
        transfer_id,
        snapshot_ts,
        -(transfer_qty - least(received_qty, transfer_qty))
    from changed_transfer_lines
    where transfer_status = 'received' and received_qty < transfer_qty
),

all_movements as (
    select * from till_sales
    union all
    select * from warehouse_movements
    union all
    select * from store_return_movements
    union all
    select * from in_transit_movements
),

current_movements as (
    select
        movements.*,
        own.legal_entity,
        counterparty.legal_entity as counterparty_legal_entity,
        coalesce(own.legal_entity <> counterparty.legal_entity, false) as is_intercompany,
        items.unit_cost,
        (movements.qty * items.unit_cost)::numeric(18, 4) as value
    from all_movements as movements
    left join locations as own on movements.location_id = own.location_id
    left join locations as counterparty on movements.counterparty_location_id = counterparty.location_id
    left join items on movements.sku = items.sku
),

{% if is_incremental() %}
posted as (
    select
        ledger.movement_id,
        sum(ledger.qty) as qty,
        sum(ledger.value) as value,
        (array_agg(ledger.unit_cost order by ledger.posted_run_seq desc, ledger.ledger_entry_id desc))[1]
            as unit_cost
    from {{ this }} as ledger
    where ledger.movement_id in (select movement_id from current_movements)
    group by ledger.movement_id
),
{% else %}
posted as (
    select
        null::text as movement_id,
        null::integer as qty,
        null::numeric as value,
        null::numeric as unit_cost
    where false
),
{% endif %}

entries as (
    select
        current_movements.*,
        'original' as entry_type,
        current_movements.movement_id as ledger_entry_id
    from current_movements
    where not exists (
            select 1 from posted
            where posted.movement_id = current_movements.movement_id
        )
    union all
    select
        current_movements.movement_id,
        current_movements.movement_type,
        current_movements.account,
        current_movements.location_id,
        current_movements.sku,
        current_movements.counterparty_location_id,
        current_movements.stock_status,
        current_movements.disposition,
        current_movements.source_feed,
        current_movements.source_reference,
        current_movements.event_ts,
        -posted.qty,
        current_movements.legal_entity,
        current_movements.counterparty_legal_entity,
        current_movements.is_intercompany,
        posted.unit_cost,
        -posted.value,
        'reversal',
        current_movements.movement_id || '/reversal/{{ build.run_seq }}'
    from current_movements
    inner join posted using (movement_id)
    where (current_movements.qty, current_movements.value) is distinct from (posted.qty, posted.value)
    union all
    select
        current_movements.*,
        'correction',
        current_movements.movement_id || '/correction/{{ build.run_seq }}'
    from current_movements
    inner join posted using (movement_id)
    where (current_movements.qty, current_movements.value) is distinct from (posted.qty, posted.value)
)

select
    ledger_entry_id,
    movement_id,
    entry_type,
    movement_type,
    account,
    location_id,
    sku,
    legal_entity,
    counterparty_location_id,
    counterparty_legal_entity,
    is_intercompany,
    stock_status,
    disposition,
    source_feed,
    source_reference,
    event_ts,
    qty::integer as qty,
    unit_cost::numeric(18, 4) as unit_cost,
    value::numeric(18, 4) as value,
    '{{ run_started_at.isoformat() }}'::timestamptz as posted_at,
    {{ build.run_seq }}::bigint as posted_run_seq
from entries
