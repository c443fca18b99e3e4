{{ config(
    incremental_strategy='delete+insert',
    unique_key='sku',
    indexes=[{'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Network ATP per sku: the sum of atp over all locations, minus the units of marketplace
  channels' orders whose latest status is accepted (sold but not allocated to a location yet),
  floored at 0. A channel is a marketplace by its policy's channel_type; orders of a channel
  without a policy are not counted (the UNKNOWN channel shows in quality).
  Rebuilt per sku: skus whose positions or channel orders changed, and every sku with orders
  when the channel policy feed changed (a channel's type may have changed). The location sum is
  adjusted by the changed positions' atp - previous_atp when every one of them replaced a row
  this model has seen, and re-summed otherwise (see int_availability__channel_ats).
#}
-- depends_on: {{ ref('stg_erp__channel_policy') }}
{% set watermark = build.watermark -%}

with
{%- if is_incremental() %}
changed_positions as (
    {{ omni_position_atp_changes(build) }}
),

refresh_requests as (
    -- (sku, whether its location sum must be re-summed, the change of that sum)
    select
        sku,
        bool_or(replaced_unseen_row) as resum,
        sum(atp_change) as atp_change
    from changed_positions
    group by sku
    union all
    select
        sku,
        false,
        0
    from {{ ref('int_channel__order_state') }}
    where _run_seq > {{ watermark }}
    {%- if omni_changed_since_watermark(ref('stg_erp__channel_policy'), build) %}
    union all
    select
        sku,
        false,
        0
    from ({{ omni_distinct_values(ref('int_channel__order_state'), 'sku') }}) as ordered
    {%- endif %}
),

skus_to_refresh as (
    -- the change is summed here, with the requests (joining the changes back to the skus made
    -- PostgreSQL compare every sku with every change: 0.3 s for 1,000 skus)
    select
        requests.sku,
        bool_or(requests.resum) or stored.sku is null as resum,
        stored.location_atp + sum(requests.atp_change) as adjusted_atp
    from refresh_requests as requests
    left join {{ this }} as stored using (sku)
    group by requests.sku, stored.sku, stored.location_atp
),

adjusted_location_atp as (
    select
        sku,
        adjusted_atp as total_atp
    from skus_to_refresh
    where not resum
),
{%- else %}
skus_to_refresh as (
    select
        sku,
        true as resum
    from (
        {{ omni_distinct_values(ref('int_inventory__position_keys'), 'sku') }}
        union
        {{ omni_distinct_values(ref('int_channel__order_state'), 'sku') }}
    ) as known
),
{%- endif %}

resummed_location_atp as (
    select
        positions.sku,
        sum(positions.atp) as total_atp
    from {{ ref('int_inventory__positions') }} as positions
    where positions.sku in (
            select sku from skus_to_refresh
            where resum
        )
    group by positions.sku
),

location_atp as (
    select
        sku,
        total_atp
    from resummed_location_atp
    {%- if is_incremental() %}
    union all
    select
        sku,
        total_atp
    from adjusted_location_atp
    {%- endif %}
),

marketplace_unallocated as (
    select
        orders.sku,
        sum(orders.order_qty) as unallocated_qty
    from {{ ref('int_channel__order_state') }} as orders
    inner join {{ ref('int_channel__policies') }} as channels using (channel_id)
    where channels.channel_type = 'marketplace'
        and orders.latest_status = 'accepted'
        and orders.sku in (select sku from skus_to_refresh)
    group by orders.sku
),

network as (
    select
        skus_to_refresh.sku,
        coalesce(location_atp.total_atp, 0)::integer as location_atp,
        coalesce(marketplace_unallocated.unallocated_qty, 0)::integer as marketplace_unallocated_qty,
        greatest(
            0, coalesce(location_atp.total_atp, 0) - coalesce(marketplace_unallocated.unallocated_qty, 0)
        )::integer as atp
    from skus_to_refresh
    left join location_atp using (sku)
    left join marketplace_unallocated using (sku)
),

changed as (
    {{ omni_changed_only('network', ['sku'], ['location_atp', 'marketplace_unallocated_qty', 'atp']) }}
)

select
    sku,
    location_atp,
    marketplace_unallocated_qty,
    atp,
    {{ build.run_seq }}::bigint as _run_seq
from changed
