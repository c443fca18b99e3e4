{{ config(
    tags=['after_quality_gate'],
    incremental_strategy='replace_scopes',
    snapshot_scope=['sku'],
    scope_only_rows="recommendation_type = 'refreshed'",
    indexes=[{'columns': ['sku']}],
) }}
{% set build = omni_build_state() %}
{#
  Transfer and purchase recommendations (docs/contract.md section 4), one table for both: they come
  from one allocation. Per position with a stock policy (docs/replenishment-finance.md):
  projected = available - reserved - committed + in_transit_in + on_order;
  need = order_up_to - projected when projected < reorder_point;
  donor excess = atp - reorder_point when atp > reorder_point, at DCs and stores only, never at a
  held position (open blocking exception: its figures are in doubt);
  days_of_cover = projected / daily demand (null without demand); priority 1 when projected <= 0
  or days_of_cover < lead_time_days, 2 when days_of_cover < 2 x lead_time_days, else 3.

  Allocation, per (region, sku), set-based: needs in the order (held last, priority, days_of_cover
  with no demand last, location_id), donors in the order (DC before store, larger excess first,
  location_id); each side becomes consecutive intervals on one axis (cumulative need, cumulative
  excess) and a transfer is the overlap of a need's interval with a donor's. Deterministic, never
  above a donor's excess or a need. What donors do not cover is a purchase.

  Incremental: a sku's allocation depends on every position of the sku in its region, so a build
  recomputes the skus with a changed position, stock policy, hold or daily demand since this
  model's last build, and replaces their rows whole (replace_scopes; a `refreshed` row names a
  sku that may have no recommendation left and is not stored). Any change to the locations'
  attributes (a region, a type, a new location) recomputes every sku: a location has a position
  of nearly every sku.
#}
{% set refresh_all = not is_incremental() or omni_changed_since_watermark(ref('int_locations__attributes'), build) -%}

with
{%- if not refresh_all %}
skus_to_refresh as (
    select sku from {{ ref('int_inventory__positions') }}
    where _run_seq > {{ build.watermark }}
    union
    select sku from {{ ref('int_inventory__stock_policies') }}
    where _run_seq > {{ build.watermark }}
    union
    select sku from {{ ref('int_replenishment__held_positions') }}
    where _run_seq > {{ build.watermark }}
    union
    select sku from {{ ref('int_replenishment__daily_demand') }}
    where _run_seq > {{ build.watermark }}
),
{%- elif is_incremental() %}
skus_to_refresh as (
    -- every sku planned now or before
    select sku from {{ ref('int_inventory__stock_policies') }}
    where has_stock_policy
    union
    select sku from {{ this }}
),
{%- endif %}

planned_positions as (
    select
        positions.location_id,
        positions.sku,
        locations.region,
        locations.location_type,
        policies.reorder_point,
        policies.order_up_to,
        coalesce(policies.lead_time_days, 0) as lead_time_days,
        positions.atp,
        positions.available - positions.reserved - positions.committed
        + positions.in_transit_in + positions.on_order as projected,
        coalesce(held.is_held, false) as has_open_blocking_exception,
        demand.daily_demand
    from {{ ref('int_inventory__positions') }} as positions
    inner join {{ ref('int_inventory__stock_policies') }} as policies using (location_id, sku)
    left join {{ ref('int_locations__attributes') }} as locations using (location_id)
    left join {{ ref('int_replenishment__held_positions') }} as held using (location_id, sku)
    left join {{ ref('int_replenishment__daily_demand') }} as demand using (location_id, sku)
    where policies.has_stock_policy and policies.reorder_point is not null
    {%- if not refresh_all %}
      and positions.sku in (select sku from skus_to_refresh)
    {%- endif %}
),

needs as (
    select
        location_id,
        sku,
        region,
        projected,
        reorder_point,
        order_up_to,
        lead_time_days,
        (order_up_to - projected)::integer as need_qty,
        has_open_blocking_exception,
        case when daily_demand > 0 then round(projected / daily_demand, 1) end as days_of_cover
    from planned_positions
    where projected < reorder_point
        and order_up_to > projected
),

prioritised_needs as (
    select
        needs.*,
        case
            when needs.projected <= 0 or needs.days_of_cover < needs.lead_time_days then 1
            when needs.days_of_cover < 2 * needs.lead_time_days then 2
            else 3
        end as priority
    from needs
),

needs_on_axis as (
    select
        prioritised_needs.*,
        sum(prioritised_needs.need_qty) over need_order - prioritised_needs.need_qty as need_start,
        sum(prioritised_needs.need_qty) over need_order as need_end
    from prioritised_needs
    window need_order as (
        partition by region, sku
        order by has_open_blocking_exception, priority, days_of_cover nulls last, location_id
        rows between unbounded preceding and current row
    )
),

donors as (
    select
        location_id,
        sku,
        region,
        location_type,
        atp,
        reorder_point,
        (atp - reorder_point)::integer as excess_qty,
        case location_type when 'dc' then 1 else 2 end as donor_rank
    from planned_positions
    where location_type in ('dc', 'store')
        and atp > reorder_point
        and not has_open_blocking_exception
),

donors_on_axis as (
    select
        donors.*,
        sum(donors.excess_qty) over donor_order - donors.excess_qty as excess_start,
        sum(donors.excess_qty) over donor_order as excess_end
    from donors
    window donor_order as (
        partition by region, sku
        order by donor_rank asc, excess_qty desc, location_id asc
        rows between unbounded preceding and current row
    )
),

transfers as (
    select
        needs_on_axis.location_id as to_location_id,
        donors_on_axis.location_id as from_location_id,
        needs_on_axis.sku,
        (
            least(needs_on_axis.need_end, donors_on_axis.excess_end)
            - greatest(needs_on_axis.need_start, donors_on_axis.excess_start)
        )::integer as qty,
        needs_on_axis.priority,
        needs_on_axis.has_open_blocking_exception,
        format(
            'projected %s below reorder point %s (order up to %s%s); %s %s has atp %s above its reorder point %s%s',
            needs_on_axis.projected, needs_on_axis.reorder_point, needs_on_axis.order_up_to,
            case when needs_on_axis.days_of_cover is not null
                    then format(', %s days of cover', needs_on_axis.days_of_cover)
                else ''
            end,
            donors_on_axis.location_type, donors_on_axis.location_id, donors_on_axis.atp,
            donors_on_axis.reorder_point,
            case when needs_on_axis.has_open_blocking_exception
                    then '; held: open blocking exception on the receiving position'
                else ''
            end
        ) as reason
    from needs_on_axis
    inner join donors_on_axis
        on needs_on_axis.region = donors_on_axis.region
            and needs_on_axis.sku = donors_on_axis.sku
            and needs_on_axis.location_id <> donors_on_axis.location_id
            and needs_on_axis.need_end > donors_on_axis.excess_start
            and needs_on_axis.need_start < donors_on_axis.excess_end
),

covered_by_transfers as (
    select
        to_location_id as location_id,
        sku,
        sum(qty) as transferred_qty
    from transfers
    group by to_location_id, sku
),

purchases as (
    select
        needs.location_id,
        needs.sku,
        (needs.need_qty - coalesce(covered.transferred_qty, 0))::integer as qty,
        needs.priority,
        needs.has_open_blocking_exception,
        format(
            'projected %s below reorder point %s (order up to %s%s); need %s, region donors cover %s; '
            'lead time %s days%s',
            needs.projected, needs.reorder_point, needs.order_up_to,
            case
                when needs.days_of_cover is not null then format(', %s days of cover', needs.days_of_cover) else ''
            end,
            needs.need_qty, coalesce(covered.transferred_qty, 0)::integer, needs.lead_time_days,
            case when needs.has_open_blocking_exception
                    then '; held: open blocking exception on the position'
                else ''
            end
        ) as reason
    from prioritised_needs as needs
    left join covered_by_transfers as covered using (location_id, sku)
),

recommendations as (
    select
        'transfer' as recommendation_type,
        to_location_id as location_id,
        from_location_id,
        sku,
        qty,
        reason,
        priority,
        has_open_blocking_exception
    from transfers
    where qty > 0
    union all
    select
        'purchase',
        location_id,
        null,
        sku,
        qty,
        reason,
        priority,
        has_open_blocking_exception
    from purchases
    where qty > 0
)

select
    recommendation_type,
    location_id,
    from_location_id,
    sku,
    qty,
    reason,
    priority,
    case when has_open_blocking_exception then 'held_for_exception' else 'recommended' end as status,
    {{ build.run_seq }}::bigint as _run_seq
from recommendations
{%- if is_incremental() %}
union all
select
    'refreshed',
    null,
    null,
    sku,
    null,
    null,
    null,
    null,
    {{ build.run_seq }}::bigint
from skus_to_refresh
{%- endif %}
