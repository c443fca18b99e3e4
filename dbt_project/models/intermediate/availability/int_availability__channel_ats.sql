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
#}
{% set watermark = build.watermark -%}

with all_skus as (
    {{ omni_distinct_values(ref('int_inventory__position_keys'), 'sku') }}
    union
    {{ omni_distinct_values(ref('int_channel__order_state'), 'sku') }}
),

pairs_to_refresh as (
    {%- if is_incremental() %}
    select channels.channel_id, skus.sku
    from {{ ref('int_channel__policies') }} as channels
    cross join (
        select sku from {{ ref('int_inventory__positions') }} where _run_seq > {{ watermark }}
        union
        select known.sku
        from {{ ref('int_inventory__position_keys') }} as known
        where known.location_id in (
            select location_id from {{ ref('int_locations__attributes') }} where _run_seq > {{ watermark }}
        )
    ) as skus
    union
    select orders.channel_id, orders.sku
    from {{ ref('int_channel__order_state') }} as orders
    where orders._run_seq > {{ watermark }}
      and orders.channel_id in (select channel_id from {{ ref('int_channel__policies') }})
    union
    select channels.channel_id, all_skus.sku
    from {{ ref('int_channel__policies') }} as channels
    cross join all_skus
    where channels._run_seq > {{ watermark }}
    {%- else %}
    select channels.channel_id, all_skus.sku
    from {{ ref('int_channel__policies') }} as channels
    cross join all_skus
    {%- endif %}
),

eligible_nodes as (
    select channels.channel_id, locations.location_id
    from {{ ref('int_channel__policies') }} as channels
    join {{ ref('int_locations__attributes') }} as locations
        on locations.location_type = any(string_to_array(channels.fulfillment_location_types, ';'))
        and case
            when channels.channel_type = 'store' then locations.pickup_enabled
            else locations.ships_to_customer
        end
),

pools as (
    select pairs.channel_id, pairs.sku, sum(positions.atp) as eligible_pool
    from pairs_to_refresh as pairs
    join eligible_nodes using (channel_id)
    join {{ ref('int_inventory__positions') }} as positions
        on positions.location_id = eligible_nodes.location_id
        and positions.sku = pairs.sku
    group by pairs.channel_id, pairs.sku
),

unallocated_orders as (
    select orders.channel_id, orders.sku, sum(orders.order_qty) as unallocated_qty
    from {{ ref('int_channel__order_state') }} as orders
    where orders.latest_status = 'accepted'
      and (orders.channel_id, orders.sku) in (select channel_id, sku from pairs_to_refresh)
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
    join {{ ref('int_channel__policies') }} as channels using (channel_id)
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
