{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Snapshot roll-forward, per position, in both stock systems:
  - till (pos): the newest pos/inventory count of the location, minus the pos/sales after that
    count (event_ts > snapshot_ts; sales at or before it are already in the count). A sku the
    location's snapshot does not list counts 0 at that snapshot. A location without any till
    snapshot rolls forward from zero (all its sales count), which surfaces as negative stock.
  - warehouse (wms): each status bucket of the newest wms/inventory snapshot of the location,
    plus the wms/movements of that bucket after it.
  int_inventory__positions picks the system that applies to the location.

  Rebuilt per key: new positions, keys with new sales or movements, and every key of a location
  whose snapshot changed (a new snapshot restates the whole location).
#}

with positions_to_refresh as (
    select
        location_id,
        sku
    from {{ ref('int_inventory__position_keys') }}
    {%- if is_incremental() %}
    where _run_seq > {{ build.watermark }}
    union
    select
        location_id,
        sku
    from (
        select
            location_id,
            sku
        from {{ ref('stg_pos__sales') }}
        where _run_seq > {{ build.watermark }}
        union
        select
            location_id,
            sku
        from {{ ref('stg_wms__movements') }}
        where _run_seq > {{ build.watermark }}
    ) as moved
    where location_id is not null and sku is not null  -- such events are not positions
    union
    select
        known.location_id,
        known.sku
    from {{ ref('int_inventory__position_keys') }} as known
    where known.location_id in (
            select location_id from {{ ref('stg_pos__inventory') }}
            where _run_seq > {{ build.watermark }}
            union
            select location_id from {{ ref('stg_wms__inventory') }}
            where _run_seq > {{ build.watermark }}
        )
    {%- endif %}
),

locations_to_refresh as (
    select distinct location_id from positions_to_refresh
),

till_snapshot_per_location as (
    -- all staged rows of a location carry its snapshot's timestamp: one index probe each
    select
        locations_to_refresh.location_id,
        counted.snapshot_ts
    from locations_to_refresh
    cross join lateral (
        -- any row: every staged row of a location carries its snapshot_ts
        select s.snapshot_ts from {{ ref('stg_pos__inventory') }} as s
        where s.location_id = locations_to_refresh.location_id
        limit 1  -- noqa: AM09
    ) as counted
),

warehouse_snapshot_per_location as (
    -- from the few locations the warehouse table holds (walked through its index): probing it
    -- for every store as well, PostgreSQL scanned the whole small table once per store
    select
        warehouses.location_id,
        counted.snapshot_ts
    from ({{ omni_distinct_values(ref('stg_wms__inventory'), 'location_id') }}) as warehouses
    cross join
        lateral (
            -- any row: every staged row of a location carries its snapshot_ts
            select s.snapshot_ts from {{ ref('stg_wms__inventory') }} as s
            where s.location_id = warehouses.location_id
            limit 1  -- noqa: AM09
        ) as counted
    where warehouses.location_id in (select location_id from locations_to_refresh)
),

till_counts as (
    select
        counts.location_id,
        counts.sku,
        counts.on_hand,
        counts.damaged
    from {{ ref('stg_pos__inventory') }} as counts
    where (counts.location_id, counts.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
),

till_sales_after_count as (
    select
        sales.location_id,
        sales.sku,
        sum(sales.sold_qty) as sold_qty
    from {{ ref('stg_pos__sales') }} as sales
    left join till_snapshot_per_location as snapshot using (location_id)
    where (sales.location_id, sales.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
        and (snapshot.snapshot_ts is null or sales.event_ts > snapshot.snapshot_ts)
    group by sales.location_id, sales.sku
),

warehouse_bucket_changes as (
    select
        counts.location_id,
        counts.sku,
        counts.stock_status,
        counts.qty
    from {{ ref('stg_wms__inventory') }} as counts
    where (counts.location_id, counts.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
    union all
    select
        movements.location_id,
        movements.sku,
        movements.stock_status,
        movements.qty_change
    from {{ ref('stg_wms__movements') }} as movements
    left join warehouse_snapshot_per_location as snapshot using (location_id)
    where (movements.location_id, movements.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
        and (snapshot.snapshot_ts is null or movements.event_ts > snapshot.snapshot_ts)
),

warehouse_buckets as (
    select
        location_id,
        sku,
        coalesce(sum(qty) filter (where stock_status = 'available'), 0) as wms_available,
        coalesce(sum(qty) filter (where stock_status = 'damaged'), 0) as wms_damaged,
        coalesce(sum(qty) filter (where stock_status = 'quarantine'), 0) as wms_quarantine,
        coalesce(sum(qty) filter (where stock_status = 'on_hold'), 0) as wms_on_hold,
        coalesce(sum(qty) filter (where stock_status = 'returned'), 0) as wms_returned,
        -- a status outside the contract's list is still physical stock (on_hand sums all
        -- statuses); the quality layer flags it
        coalesce(sum(qty) filter (
            where stock_status not in ('available', 'damaged', 'quarantine', 'on_hold', 'returned')
            or stock_status is null
        ), 0) as wms_other
    from warehouse_bucket_changes
    group by location_id, sku
),

rolled_forward as (
    select
        positions_to_refresh.location_id,
        positions_to_refresh.sku,
        till_snapshot.snapshot_ts as pos_snapshot_ts,
        coalesce(till_counts.on_hand, 0)::integer as pos_counted_on_hand,
        coalesce(till_counts.damaged, 0)::integer as pos_damaged,
        coalesce(till_sales.sold_qty, 0)::integer as pos_sold_since_snapshot,
        warehouse_snapshot.snapshot_ts as wms_snapshot_ts,
        coalesce(buckets.wms_available, 0)::integer as wms_available,
        coalesce(buckets.wms_damaged, 0)::integer as wms_damaged,
        coalesce(buckets.wms_quarantine, 0)::integer as wms_quarantine,
        coalesce(buckets.wms_on_hold, 0)::integer as wms_on_hold,
        coalesce(buckets.wms_returned, 0)::integer as wms_returned,
        coalesce(buckets.wms_other, 0)::integer as wms_other
    from positions_to_refresh
    left join till_snapshot_per_location as till_snapshot using (location_id)
    left join till_counts using (location_id, sku)
    left join till_sales_after_count as till_sales using (location_id, sku)
    left join warehouse_snapshot_per_location as warehouse_snapshot using (location_id)
    left join warehouse_buckets as buckets using (location_id, sku)
),

changed as (
    {{ omni_changed_only('rolled_forward', ['location_id', 'sku'],
        ['pos_snapshot_ts', 'pos_counted_on_hand', 'pos_damaged', 'pos_sold_since_snapshot', 'wms_snapshot_ts',
         'wms_available', 'wms_damaged', 'wms_quarantine', 'wms_on_hold', 'wms_returned', 'wms_other']) }}
)

select
    location_id,
    sku,
    pos_snapshot_ts,
    pos_counted_on_hand,
    pos_damaged,
    pos_sold_since_snapshot,
    wms_snapshot_ts,
    wms_available,
    wms_damaged,
    wms_quarantine,
    wms_on_hold,
    wms_returned,
    wms_other,
    {{ build.run_seq }}::bigint as _run_seq
from changed
