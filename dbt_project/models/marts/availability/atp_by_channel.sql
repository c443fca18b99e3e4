{#
  Available-to-sell per sales channel and sku (int_availability__channel_ats has the pool, share
  and orders behind it).
#}

select
    channel_ats.channel_id,
    channel_ats.sku,
    channel_ats.ats,
    build_as_of.as_of
from {{ ref('int_availability__channel_ats') }} as channel_ats
cross join {{ ref('int_availability__as_of') }} as build_as_of
