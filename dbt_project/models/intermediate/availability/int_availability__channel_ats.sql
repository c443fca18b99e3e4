{{ config(
    incremental_strategy='delete+insert',
    unique_key=['channel_id', 'sku'],
    indexes=[{'columns': ['_run_seq']}],
    pre_hook=[
        "{% if is_incremental() %}
        -- channels dropped from the policy feed leave the table
        delete from {{ this }}
        where channel_id in (
            {{ omni_distinct_values(this, 'channel_id') }}
            except
            select channel_id from {{ ref('int_channel__policies') }}
        )
        {% endif %}",
    ],
) }}
{% set build = omni_build_state() %}
{#
  Available-to-sell per channel and sku, for every channel with a policy and every sku known to
  a position or a channel order.
  - eligible nodes: locations whose type is in the channel's fulfillment_location_types and that
    ship to customers; for a store channel (pick-up), that are pickup-enabled instead.
  - pool = sum of atp over the eligible nodes; unallocated = sum of qty of the channel's orders
    whose latest status is accepted;
  - ats = max(0, floor(pool * max_share_pct / 100) - channel_safety_stock - unallocated).
  Rebuilt per (channel, sku): skus whose positions changed (any channel), the channel's order
  lines that changed, every sku of a channel whose policy changed, and every sku stocked at a
  location whose attributes (type, shipping, pick-up) changed.
  A pool is adjusted, not re-summed, when the eligible nodes stayed the same and every changed
  position of the sku replaced a row this model has seen (previous_run_seq <= watermark): then
  pool = stored pool + sum of (atp - previous_atp) over its changed eligible positions. A micro-
  batch touches a few positions of most skus; adjusting reads those positions only, where
  re-summing would read nearly every position of the network. Policy or location changes, a
  full build of the positions, or a build of the positions this model missed re-sum instead.
#}
{% set watermark = build.watermark -%}

with all_skus as (
    {{ omni_distinct_values(ref('int_inventory__position_keys'), 'sku') }}
    union
    {{ omni_distinct_values(ref('int_channel__order_state'), 'sku') }}
),

eligible_nodes as (
    select
        channels.channel_id,
        locations.location_id
    from {{ ref('int_channel__policies') }} as channels
    inner join {{ ref('int_locations__attributes') }} as locations
        on locations.location_type = any(string_to_array(channels.fulfillment_location_types, ';'))
            and case
                when channels.channel_type = 'store' then locations.pickup_enabled
                else locations.ships_to_customer
            end
),
{%- if is_incremental() %}

changed_positions as (
    {{ omni_position_atp_changes(build) }}
),

refresh_requests as (
    -- (channel, sku, whether its pool must be re-summed)
    select
        channels.channel_id,
        skus.sku,
        skus.resum
    from {{ ref('int_channel__policies') }} as channels
    -- the skus to refresh, inline: read only here
    cross join (  -- noqa: ST05
        select
            sku,
            bool_or(replaced_unseen_row) as resum
        from changed_positions
        group by sku
        union all
        select
            known.sku,
            true
        from {{ ref('int_inventory__position_keys') }} as known
        where known.location_id in (
                select location_id from {{ ref('int_locations__attributes') }}
                where _run_seq > {{ watermark }}
            )
    ) as skus
    union all
    select
        orders.channel_id,
        orders.sku,
        false
    from {{ ref('int_channel__order_state') }} as orders
    where orders._run_seq > {{ watermark }}
        and orders.channel_id in (select channel_id from {{ ref('int_channel__policies') }})
    union all
    select
        channels.channel_id,
        all_skus.sku,
        true
    from {{ ref('int_channel__policies') }} as channels
    cross join all_skus
    where channels._run_seq > {{ watermark }}
),

pairs_to_refresh as (
    select
        requests.channel_id,
        requests.sku,
        bool_or(requests.resum) or stored.channel_id is null as resum,
        stored.eligible_pool as stored_pool
    from refresh_requests as requests
    left join {{ this }} as stored using (channel_id, sku)
    group by requests.channel_id, requests.sku, stored.channel_id, stored.eligible_pool
),

adjusted_pools as (
    select
        pairs.channel_id,
        pairs.sku,
        pairs.stored_pool + coalesce(sum(changes.atp_change), 0) as eligible_pool
    from pairs_to_refresh as pairs
    -- a parenthesised join: sqlfluff's ST11 takes the group for an unused table
    left join (  -- noqa: ST11
        changed_positions as changes inner join eligible_nodes using (location_id)
    ) on pairs.sku = changes.sku and pairs.channel_id = eligible_nodes.channel_id
    where not pairs.resum
    group by pairs.channel_id, pairs.sku, pairs.stored_pool
),
{%- else %}

pairs_to_refresh as (
    select
        channels.channel_id,
        all_skus.sku,
        true as resum
    from {{ ref('int_channel__policies') }} as channels
    cross join all_skus
),
{%- endif %}

resummed_pools as (
    select
        pairs.channel_id,
        pairs.sku,
        sum(positions.atp) as eligible_pool
    from pairs_to_refresh as pairs
    inner join eligible_nodes using (channel_id)
    inner join {{ ref('int_inventory__positions') }} as positions
        on eligible_nodes.location_id = positions.location_id
            and pairs.sku = positions.sku
    where pairs.resum
    group by pairs.channel_id, pairs.sku
),

pools as (
    select
        channel_id,
        sku,
        eligible_pool
    from resummed_pools
    {%- if is_incremental() %}
    union all
    select
        channel_id,
        sku,
        eligible_pool
    from adjusted_pools
    {%- endif %}
),

unallocated_orders as (
    select
        orders.channel_id,
        orders.sku,
        sum(orders.order_qty) as unallocated_qty
    from {{ ref('int_channel__order_state') }} as orders
    where orders.latest_status = 'accepted'
        and (orders.channel_id, orders.sku) in (
            select
                channel_id,
                sku
            from pairs_to_refresh
        )
    group by orders.channel_id, orders.sku
),

available_to_sell as (
    select
        pairs.channel_id,
        pairs.sku,
        coalesce(pools.eligible_pool, 0)::integer as eligible_pool,
        channels.max_share_pct,
        channels.channel_safety_stock,
        coalesce(unallocated_orders.unallocated_qty, 0)::integer as unallocated_qty,
        greatest(
            0,
            floor(coalesce(pools.eligible_pool, 0) * channels.max_share_pct / 100)::integer
            - channels.channel_safety_stock
            - coalesce(unallocated_orders.unallocated_qty, 0)
        )::integer as ats
    from pairs_to_refresh as pairs
    inner join {{ ref('int_channel__policies') }} as channels using (channel_id)
    left join pools using (channel_id, sku)
    left join unallocated_orders using (channel_id, sku)
),

changed as (
    {{ omni_changed_only('available_to_sell', ['channel_id', 'sku'],
        ['eligible_pool', 'max_share_pct', 'channel_safety_stock', 'unallocated_qty', 'ats']) }}
)

select
    channel_id,
    sku,
    eligible_pool,
    max_share_pct,
    channel_safety_stock,
    unallocated_qty,
    ats,
    {{ build.run_seq }}::bigint as _run_seq
from changed
