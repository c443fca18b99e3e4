{{ config(
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Time-phased ATP per position, as an array over the days from as_of's date (element 1 = as_of's
  date, timephased_days elements):
  base = available - reserved - committed - safety_stock (not floored), plus every in-transit
  transfer and open PO unit expected on or before the day, floored at 0. Inbound already overdue
  (expected before as_of's date) counts from day 0; inbound without an expected date is not
  scheduled and counts on no day.

  One row per position, days as array elements (14 times fewer rows to write than one row per
  day; marts.atp_timephased unnests them), and by day offset, not date: the mart turns offsets
  into dates with as_of, so positions without inbound (a flat base) do not change when as_of
  crosses midnight. Rebuilt per key: positions or inbound schedules that changed, and, on the
  first build of a new as_of date, every position with scheduled inbound.
#}
{% set watermark = build.watermark -%}
{% set as_of_date = "(" ~ build.as_of ~ " at time zone 'UTC')::date" -%}
{% set previous_as_of_date = "(" ~ build.previous_as_of ~ " at time zone 'UTC')::date" -%}
{% set days = var('timephased_days') -%}

with positions_to_refresh as (
    select
        location_id,
        sku
    from {{ ref('int_inventory__positions') }}
    {%- if is_incremental() %}
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
    from {{ ref('int_inventory__planning_quantities') }}
    where inbound_schedule <> '{}'::jsonb
        and {{ as_of_date }} is distinct from {{ previous_as_of_date }}
    {%- endif %}
),

bases as (
    select
        positions.location_id,
        positions.sku,
        positions.available - positions.reserved - positions.committed - positions.safety_stock as base
    from {{ ref('int_inventory__positions') }} as positions
    where (positions.location_id, positions.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
),

scheduled_inbound as (
    select
        planning.location_id,
        planning.sku,
        scheduled.key::date as expected_date,
        scheduled.value::integer as qty
    from {{ ref('int_inventory__planning_quantities') }} as planning
    cross join lateral jsonb_each_text(planning.inbound_schedule) as scheduled
    where planning.inbound_schedule <> '{}'::jsonb
        and (planning.location_id, planning.sku) in (
            select
                location_id,
                sku
            from positions_to_refresh
        )
),

days as (
    select generate_series(0, {{ days }} - 1) as day_offset
),

inbound_to_date as (
    -- per position with inbound: units arrived by the end of each day (cumulative)
    select
        location_id,
        sku,
        array_agg(arrived order by day_offset) as arrived_by_day
    from (
        select
            scheduled_inbound.location_id,
            scheduled_inbound.sku,
            days.day_offset,
            sum(scheduled_inbound.qty) filter (
                where scheduled_inbound.expected_date <= {{ as_of_date }} + days.day_offset
            ) as arrived
        from scheduled_inbound
        cross join days
        group by scheduled_inbound.location_id, scheduled_inbound.sku, days.day_offset
    ) as arrivals
    group by location_id, sku
),

projected as (
    select
        bases.location_id,
        bases.sku,
        case
            -- most positions expect nothing: the same floored base every day
            when inbound_to_date.arrived_by_day is null
                then array_fill(greatest(0, bases.base)::integer, array[{{ days }}])
            else array(
                    select greatest(0, bases.base + coalesce(arrived, 0))::integer
                    from unnest(inbound_to_date.arrived_by_day) with ordinality as day_arrivals (arrived, day_number)
                    order by day_number
                )
        end as projected_atp_by_day
    from bases
    left join inbound_to_date using (location_id, sku)
),

changed as (
    {{ omni_changed_only('projected', ['location_id', 'sku'], ['projected_atp_by_day']) }}
)

select
    location_id,
    sku,
    projected_atp_by_day,
    {{ build.run_seq }}::bigint as _run_seq
from changed
