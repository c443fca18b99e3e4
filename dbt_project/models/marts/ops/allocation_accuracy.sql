{#
  How well each channel's published quantities match what it may sell: every listing of
  stg_channel__listings (the channel's current snapshot) against marts.atp_by_channel.ats (0 when
  the channel has no ats for the sku, as in the OVERSOLD rule). A listing is accurate when
  published_qty = ats, under-published below it, oversold above it; oversell_rate = oversold
  listings / listings. A table, rebuilt every run.
#}
{{ config(materialized='table') }}

with listings as (
    select
        listings.channel_id,
        listings.sku,
        coalesce(listings.published_qty, 0) as published_qty,
        coalesce(channel_ats.ats, 0) as ats
    from {{ ref('stg_channel__listings') }} as listings
    left join {{ ref('atp_by_channel') }} as channel_ats
        on channel_ats.channel_id = listings.channel_id and channel_ats.sku = listings.sku
)

select
    listings.channel_id,
    count(*)::integer as listings,
    count(*) filter (where published_qty = ats)::integer as accurate_listings,
    count(*) filter (where published_qty < ats)::integer as under_published_listings,
    count(*) filter (where published_qty > ats)::integer as oversold_listings,
    coalesce(sum(published_qty - ats) filter (where published_qty > ats), 0)::integer as oversold_units,
    (count(*) filter (where published_qty > ats)::numeric / count(*))::numeric(7, 4) as oversell_rate,
    sum(published_qty)::integer as published_units,
    sum(ats)::integer as ats_units,
    max(build_as_of.as_of) as as_of
from listings
cross join {{ ref('int_availability__as_of') }} as build_as_of
group by listings.channel_id
