{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['sku']}, {'columns': ['_run_seq']}],
    pre_hook="{{ omni_full_build_plans() }}",
) }}
{% set build = omni_build_state() %}
{#
  The canonical inventory position per (location_id, sku), without as_of (which every row would
  otherwise repeat and rewrite on every build): marts.inventory_position adds it.

  Rebuilt per key, only for keys whose inputs changed since this model's last build: stock
  rolled forward, open quantities, stock policy, reservation or return state (all keys the changed
  reservation/return ever touched), location attributes (all keys of the location), and the
  reservations that expired between the previous build's as_of and this one's. That last set
  is what keeps an incremental build equal to a full one while as_of moves: `reserved` depends
  on as_of only through expires_at, so only keys with a live reservation expiring in
  (previous as_of, as_of] can change for that reason.
#}
-- depends_on: {{ ref('stg_oms__reservations') }}
-- depends_on: {{ ref('stg_oms__returns') }}
{% set watermark = build.watermark -%}
{% set as_of = build.as_of -%}

with positions_to_refresh as (
    select
        location_id,
        sku
    from {{ ref('int_inventory__position_keys') }}
    {%- if is_incremental() %}
    where _run_seq > {{ watermark }}
    union
    select
        location_id,
        sku
    from {{ ref('int_inventory__stock_rolled_forward') }}
    where _run_seq > {{ watermark }}
    union
    select
        location_id,
        sku
    from {{ ref('int_inventory__planning_quantities') }}
    where _run_seq > {{ watermark }}
    union
    select
        location_id,
        sku
    from {{ ref('int_inventory__stock_policies') }}
    where _run_seq > {{ watermark }}
    union
    select
        location_id,
        sku
    from (
        -- every key a changed reservation or return ever named (it may have moved)
        select
            events.location_id,
            events.sku
        from {{ ref('stg_oms__reservations') }} as events
        where events.reservation_id in (
                select reservation_id from {{ ref('int_oms__reservation_state') }}
                where _run_seq > {{ watermark }}
            )
        union
        select
            events.location_id,
            events.sku
        from {{ ref('stg_oms__returns') }} as events
        where events.return_id in (
                select return_id from {{ ref('int_oms__return_state') }}
                where _run_seq > {{ watermark }}
            )
        union
        -- live reservations that lapsed between the previous build's as_of and this one's
        select
            location_id,
            sku
        from {{ ref('int_oms__reservation_state') }}
        where latest_event_type = 'created'
            and expires_at > {{ build.previous_as_of }}
            and expires_at <= {{ as_of }}
    ) as reservation_and_return_keys
    where location_id is not null and sku is not null
    union
    select
        known.location_id,
        known.sku
    from {{ ref('int_inventory__position_keys') }} as known
    where known.location_id in (
            select location_id from {{ ref('int_locations__attributes') }}
            where _run_seq > {{ watermark }}
        )
    {%- endif %}
),

live_reservations as (
    select
        location_id,
        sku,
        sum(reserved_qty) as reserved
    from {{ ref('int_oms__reservation_state') }}
    where latest_event_type = 'created'
        and (expires_at is null or expires_at > {{ as_of }})
        and (location_id, sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
    group by location_id, sku
),

returns_awaiting_inspection as (
    select
        location_id,
        sku,
        sum(return_qty) as returned
    from {{ ref('int_oms__return_state') }}
    where latest_status = 'received'
        and (location_id, sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
    group by location_id, sku
),

stock_by_system as (
    select
        positions_to_refresh.location_id,
        positions_to_refresh.sku,
        locations.stock_system,
        case locations.stock_system
            when 'pos'
                then stock.pos_counted_on_hand - stock.pos_sold_since_snapshot
                    + coalesce(store_returns.returned, 0)::integer
            else stock.wms_available + stock.wms_damaged + stock.wms_quarantine + stock.wms_on_hold
                + stock.wms_returned + stock.wms_other
        end as on_hand,
        case locations.stock_system when 'pos' then stock.pos_damaged else stock.wms_damaged end as damaged,
        case locations.stock_system when 'pos' then 0 else stock.wms_quarantine + stock.wms_on_hold end as quarantined,
        case locations.stock_system
            when 'pos' then coalesce(store_returns.returned, 0)::integer
            else stock.wms_returned
        end as returned,
        case locations.stock_system when 'pos' then stock.pos_snapshot_ts else stock.wms_snapshot_ts end
            as source_snapshot_ts
    from positions_to_refresh
    inner join {{ ref('int_locations__attributes') }} as locations using (location_id)
    inner join {{ ref('int_inventory__stock_rolled_forward') }} as stock using (location_id, sku)
    left join returns_awaiting_inspection as store_returns using (location_id, sku)
),

positions as (
    select
        stock_by_system.location_id,
        stock_by_system.sku,
        stock_by_system.on_hand,
        stock_by_system.damaged,
        stock_by_system.quarantined,
        stock_by_system.returned,
        stock_by_system.on_hand - stock_by_system.damaged - stock_by_system.quarantined
        - stock_by_system.returned as available,
        coalesce(live_reservations.reserved, 0)::integer as reserved,
        planning.committed,
        planning.in_transit_in,
        planning.in_transit_out,
        planning.on_order,
        policies.safety_stock,
        stock_by_system.source_snapshot_ts
    from stock_by_system
    inner join {{ ref('int_inventory__planning_quantities') }} as planning using (location_id, sku)
    inner join {{ ref('int_inventory__stock_policies') }} as policies using (location_id, sku)
    left join live_reservations using (location_id, sku)
),

with_atp as (
    select
        location_id,
        sku,
        on_hand,
        damaged,
        quarantined,
        returned,
        available,
        reserved,
        committed,
        in_transit_in,
        in_transit_out,
        on_order,
        safety_stock,
        greatest(0, available - reserved - committed - safety_stock) as atp,
        greatest(0, reserved + committed - available) as shortfall,
        source_snapshot_ts
    from positions
),

changed as (
    {#- What each rewritten row replaces lets the network sums (channel pools, network atp) add
        the difference instead of re-summing every location of the sku. A full build replaces
        everything: its rows name this build as their predecessor, which tells those models to
        re-sum. -#}
    {{ omni_changed_only('with_atp', ['location_id', 'sku'],
        ['on_hand', 'damaged', 'quarantined', 'returned', 'available', 'reserved', 'committed',
         'in_transit_in', 'in_transit_out', 'on_order', 'safety_stock', 'atp', 'shortfall', 'source_snapshot_ts'],
        previous={
            'previous_atp': ['coalesce(stored.atp, 0)', '0'],
            'previous_run_seq': ['coalesce(stored._run_seq, 0)', build.run_seq ~ '::bigint'],
        }) }}
)

select
    location_id,
    sku,
    on_hand,
    damaged,
    quarantined,
    returned,
    available,
    reserved,
    committed,
    in_transit_in,
    in_transit_out,
    on_order,
    safety_stock,
    atp,
    shortfall,
    source_snapshot_ts,
    previous_atp,
    previous_run_seq,
    {{ build.run_seq }}::bigint as _run_seq
from changed
