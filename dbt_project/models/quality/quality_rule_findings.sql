{#
  Findings of the rules that need the canonical state (docs/contract.md section 4), one row per
  finding, merged by the Python asset quality/inventory_exceptions into quality.inventory_exceptions
  (which gives them stable ids and the open/resolved lifecycle). severity is null: the default of
  expectations/config.yml applies, so operations can re-grade a rule without touching SQL.
  finding_key tells apart findings of the same type, feed, location and sku (a listing per channel,
  a transfer per transfer_id).
#}

with flagged_positions as (
    -- filtered before the join: the few positions a position rule flags, not every position
    select
        positions.*,
        attributes.stock_system
    from {{ ref('inventory_position') }} as positions
    left join {{ ref('int_locations__attributes') }} as attributes using (location_id)
    where positions.on_hand < 0 or positions.shortfall > 0
),

negative_on_hand as (
    select
        'NEGATIVE_ON_HAND' as exception_type,
        stock_system as source_system,
        stock_system || '/inventory' as feed,
        location_id,
        sku,
        jsonb_build_object(
            'on_hand', on_hand, 'as_of', as_of, 'source_snapshot_ts', source_snapshot_ts
        ) as details,
        '' as finding_key
    from flagged_positions
    where on_hand < 0
),

oversold_positions as (
    -- Reservations and allocated lines exceed sellable stock: orders that cannot be served.
    select
        'OVERSOLD' as exception_type,
        'oms' as source_system,
        'oms/reservations' as feed,
        location_id,
        sku,
        jsonb_build_object(
            'shortfall', shortfall, 'available', available, 'reserved', reserved,
            'committed', committed, 'as_of', as_of
        ) as details,
        '' as finding_key
    from flagged_positions
    where shortfall > 0
),

oversold_listings as (
    -- A channel publishes more than the network may promise it: it will sell units it lacks.
    select
        'OVERSOLD' as exception_type,
        'channel' as source_system,
        'channel/listings' as feed,
        null::text as location_id,
        listings.sku,
        jsonb_build_object(
            'channel_id', listings.channel_id, 'published_qty', listings.published_qty,
            'ats', coalesce(channel_ats.ats, 0)
        ) as details,
        listings.channel_id as finding_key
    from {{ ref('stg_channel__listings') }} as listings
    left join {{ ref('atp_by_channel') }} as channel_ats
        on listings.channel_id = channel_ats.channel_id and listings.sku = channel_ats.sku
    where listings.published_qty > coalesce(channel_ats.ats, 0)
),

overdue_transfers as (
    -- Shipped, not fully received, and expected before the data time: stuck in the pipeline.
    select
        'TRANSFER_OVERDUE' as exception_type,
        'erp' as source_system,
        'erp/transfers' as feed,
        transfers.to_location_id as location_id,
        transfers.sku,
        jsonb_build_object(
            'transfer_id', transfers.transfer_id, 'from_location_id', transfers.from_location_id,
            'in_transit_qty', transfers.in_transit_qty, 'expected_at', transfers.expected_at,
            'as_of', build_as_of.as_of
        ) as details,
        transfers.transfer_id as finding_key
    from {{ ref('int_supply__transfer_lines') }} as transfers
    cross join {{ ref('int_availability__as_of') }} as build_as_of
    where transfers.transfer_status = 'shipped'
        and transfers.in_transit_qty > 0
        and transfers.expected_at < build_as_of.as_of
),

cancelled_orders as (
    -- The channel's latest word on each order line.
    select distinct on (channel_id, order_id, sku)
        channel_id,
        order_id,
        sku,
        order_status,
        event_ts
    from {{ ref('stg_channel__orders') }}
    order by channel_id asc, order_id asc, sku asc, event_ts desc, event_id desc
),

reservations_not_released as (
    -- The channel cancelled the order, yet the OMS still holds its reservation: stock is blocked
    -- for nobody until expires_at (the contract counts it as reserved, so no figure shows it).
    select
        'RESERVATION_NOT_RELEASED' as exception_type,
        'oms' as source_system,
        'oms/reservations' as feed,
        reservations.location_id,
        reservations.sku,
        jsonb_build_object(
            'reservation_id', reservations.reservation_id, 'order_id', reservations.order_id,
            'channel_id', reservations.channel_id, 'reserved_qty', reservations.reserved_qty,
            'expires_at', reservations.expires_at, 'order_cancelled_at', cancelled_orders.event_ts,
            'as_of', build_as_of.as_of
        ) as details,
        reservations.reservation_id as finding_key
    from {{ ref('int_oms__reservation_state') }} as reservations
    cross join {{ ref('int_availability__as_of') }} as build_as_of
    inner join cancelled_orders
        on reservations.channel_id = cancelled_orders.channel_id
            and reservations.order_id = cancelled_orders.order_id
            and reservations.sku = cancelled_orders.sku
    where reservations.latest_event_type = 'created'
        and (reservations.expires_at is null or reservations.expires_at > build_as_of.as_of)
        and cancelled_orders.order_status = 'cancelled'
),

book_vs_physical as (
    {{ omni_book_vs_physical() }}
),

count_variances as (
    select
        'COUNT_VARIANCE' as exception_type,
        'erp' as source_system,
        'erp/book_inventory' as feed,
        location_id,
        sku,
        jsonb_build_object(
            'book_qty', book_qty, 'physical_qty', physical_qty, 'variance_qty', variance_qty,
            'tolerance_units', {{ var('count_variance_tolerance_units') }}
        ) as details,
        '' as finding_key
    from book_vs_physical
    where beyond_tolerance
),

unusable_raw_rows as (
    -- rows staging skipped (a required value missing, a number out of range): see the row
    select
        'INVALID_VALUE' as exception_type,
        split_part(feed, '/', 1) as source_system,
        feed,
        location_id,
        sku,
        jsonb_build_object(
            'load_id', load_id, 'row_number', row_number, 'raw_row', raw_row,
            'rule', 'a required value is missing or a number is beyond its column''s range'
        ) as details,
        load_id::text || '|' || row_number::text as finding_key
    from {{ ref('stg_raw__unusable_rows') }}
),

findings as (
    select * from negative_on_hand
    union all
    select * from oversold_positions
    union all
    select * from oversold_listings
    union all
    select * from overdue_transfers
    union all
    select * from count_variances
    union all
    select * from reservations_not_released
    union all
    select * from unusable_raw_rows
)

select
    exception_type,
    null::text as severity,
    source_system,
    feed,
    location_id,
    sku,
    details,
    finding_key
from findings
