{{ config(
    incremental_strategy='delete+insert',
    unique_key='channel_id',
    indexes=[{'columns': ['channel_id'], 'unique': true}, {'columns': ['_run_seq']}],
    pre_hook=[
        "{% if is_incremental() %}
        -- a channel dropped from the policy feed has no policy any more
        delete from {{ this }} as stored
        where not exists (select 1 from {{ ref('stg_erp__channel_policy') }} as policy where policy.channel_id = stored.channel_id)
        {% endif %}",
    ],
) }}
{% set build = omni_build_state() %}
{#
  The channels with an allocation policy, written only where the policy changed, so that a
  re-delivered identical policy snapshot does not recompute every channel's available-to-sell.
#}

with policies as (
    select
        channel_id,
        lower(channel_type) as channel_type,
        coalesce(max_share_pct, 0) as max_share_pct,
        coalesce(channel_safety_stock, 0) as channel_safety_stock,
        fulfillment_location_types
    from {{ ref('stg_erp__channel_policy') }}
),

changed as (
    {{ omni_changed_only('policies', ['channel_id'],
        ['channel_type', 'max_share_pct', 'channel_safety_stock', 'fulfillment_location_types']) }}
)

select
    channel_id,
    channel_type,
    max_share_pct,
    channel_safety_stock,
    fulfillment_location_types,
    {{ build.run_seq }}::bigint as _run_seq
from changed
