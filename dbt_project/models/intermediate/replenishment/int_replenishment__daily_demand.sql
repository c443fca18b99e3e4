{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Daily demand per position: units that left the location in the 28 days up to as_of (till sales
  net of till returns; warehouse shipments), divided by 28. Replenishment turns it into days of
  cover. Built in the first dbt step with the positions (not after the quality gate), so that its
  window ends at the as_of the positions are built for.

  Incremental: a position's demand changes only when outflows of it are loaded, or when outflows
  leave the 28-day window as as_of moves (event_ts in (previous as_of - 28 days, as_of - 28 days]);
  only those positions are summed again, through the events' (location_id, sku, event_ts) index.
  A position whose outflows all left the window keeps a row with 0 (a full build stores only
  positions with outflows). Events without a location or sku are not positions (their
  exceptions say so) and are left out.
#}
-- as_of moves the window: built in every run that builds as_of
-- depends_on: {{ ref('int_availability__as_of') }}
{% set window_start = build.as_of ~ " - interval '28 days'" -%}
{% set previous_window_start = (
    "coalesce(" ~ build.previous_as_of ~ ", '-infinity'::timestamptz) - interval '28 days'"
) -%}

with
{%- if is_incremental() %}
positions_to_refresh as (
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
        from {{ ref('stg_pos__sales') }}
        where event_ts > {{ previous_window_start }} and event_ts <= {{ window_start }}
        union
        select
            location_id,
            sku
        from {{ ref('stg_wms__movements') }}
        where movement_type = 'shipment' and _run_seq > {{ build.watermark }}
        union
        select
            location_id,
            sku
        from {{ ref('stg_wms__movements') }}
        where movement_type = 'shipment'
            and event_ts > {{ previous_window_start }} and event_ts <= {{ window_start }}
    ) as changed_outflows
    where location_id is not null and sku is not null
),
{%- endif %}

outflows as (
    select
        sales.location_id,
        sales.sku,
        sales.sold_qty as units
    from {{ ref('stg_pos__sales') }} as sales
    where
        sales.event_ts > {{ window_start }} and sales.event_ts <= {{ build.as_of }}
        and sales.location_id is not null and sales.sku is not null
    {% if is_incremental() %}
    and (sales.location_id, sales.sku) in (
        select
            location_id,
            sku
        from positions_to_refresh
    )
    {% endif %}
    union all
    select
        movements.location_id,
        movements.sku,
        -movements.qty_change as units
    from {{ ref('stg_wms__movements') }} as movements
    where
        movements.movement_type = 'shipment'
        and movements.event_ts > {{ window_start }} and movements.event_ts <= {{ build.as_of }}
        and movements.location_id is not null and movements.sku is not null
    {% if is_incremental() %}
    and (movements.location_id, movements.sku) in (
        select
            location_id,
            sku
        from positions_to_refresh
    )
    {% endif %}
),

demand as (
    {%- if is_incremental() %}
    select
        positions_to_refresh.location_id,
        positions_to_refresh.sku,
        (greatest(0, coalesce(sum(outflows.units), 0))::numeric / 28)::numeric as daily_demand
    from positions_to_refresh
    left join outflows using (location_id, sku)
    group by positions_to_refresh.location_id, positions_to_refresh.sku
    {%- else %}
    select
        location_id,
        sku,
        (greatest(0, sum(units))::numeric / 28)::numeric as daily_demand
    from outflows
    group by location_id, sku
    {%- endif %}
),

changed as (
    {{ omni_changed_only('demand', ['location_id', 'sku'], ['daily_demand']) }}
)

select
    location_id,
    sku,
    daily_demand,
    {{ build.run_seq }}::bigint as _run_seq
from changed
