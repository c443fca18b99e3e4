{#
  How well each channel's published quantities match what it may sell: every listing of
  stg_channel__listings (the channel's current snapshot) against marts.atp_by_channel.ats (0 when
  the channel has no ats for the sku, as in the OVERSOLD rule). A listing is accurate when
  published_qty = ats, under-published below it, oversold above it; oversell_rate = oversold
  listings / listings. The channel feed's figures (docs/api.md): what channel sync last published
  for each listed sku (meta.channel_published_ats, 0 before the feed published it) against ats.
  A table, rebuilt every run.
#}
{{ config(materialized='table') }}
{%- set channel_feed = source('channel_sync', 'channel_published_ats') -%}
{%- set feed_exists = execute and adapter.get_relation(
    database=target.database, schema='meta', identifier='channel_published_ats') is not none %}

with listings as (
    select
        listings.channel_id,
        listings.sku,
        coalesce(listings.published_qty, 0) as published_qty,
        coalesce(channel_ats.ats, 0) as ats,
        {{ 'coalesce(feed.ats, 0)' if feed_exists else '0' }} as feed_ats
    from {{ ref('stg_channel__listings') }} as listings
    left join {{ ref('atp_by_channel') }} as channel_ats
        on listings.channel_id = channel_ats.channel_id and listings.sku = channel_ats.sku
    {%- if feed_exists %}
    left join {{ channel_feed }} as feed
        on listings.channel_id = feed.channel_id and listings.sku = feed.sku
    {%- endif %}
)

select
    listings.channel_id,
    count(*)::integer as listings,
    count(*) filter (where listings.published_qty = listings.ats)::integer as accurate_listings,
    count(*) filter (where listings.published_qty < listings.ats)::integer as under_published_listings,
    count(*) filter (where listings.published_qty > listings.ats)::integer as oversold_listings,
    coalesce(
        sum(listings.published_qty - listings.ats) filter (where listings.published_qty > listings.ats), 0
    )::integer as oversold_units,
    (count(*) filter (where listings.published_qty > listings.ats)::numeric / count(*))::numeric(7, 4) as oversell_rate,
    sum(listings.published_qty)::integer as published_units,
    sum(listings.ats)::integer as ats_units,
    sum(listings.feed_ats)::integer as feed_published_units,
    count(*) filter (where listings.feed_ats = listings.ats)::integer as feed_accurate_listings,
    max(build_as_of.as_of) as as_of
from listings
cross join {{ ref('int_availability__as_of') }} as build_as_of
group by listings.channel_id
