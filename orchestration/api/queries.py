"""The API's reads: one statement per answer, on the marts the contract names (section 3).

Every answer carries the newest load time: the greatest last_loaded_at of ops.feed_latency, the
ops mart the BI role reads (meta.file_ledger itself is the owner's).
"""

from __future__ import annotations

NEWEST_LOAD = "(select max(last_loaded_at) from ops.feed_latency)"

LOCATION_ATP = f"""
select atp, as_of, {NEWEST_LOAD} as loaded_at
from marts.atp_by_location where location_id = %(location_id)s and sku = %(sku)s
"""

CHANNEL_ATS = f"""
select ats, as_of, {NEWEST_LOAD} as loaded_at
from marts.atp_by_channel where channel_id = %(channel_id)s and sku = %(sku)s
"""

NETWORK_ATP = f"""
select atp, as_of, {NEWEST_LOAD} as loaded_at
from marts.atp_network where sku = %(sku)s
"""

# The asked skus (a JSON array) in one index scan; the channel's as_of (any of its rows) is null for an unknown channel.
CHANNEL_LOOKUP = f"""
select found.sku, found.ats, channel.as_of, {NEWEST_LOAD} as loaded_at
from (
    select (select as_of from marts.atp_by_channel where channel_id = %(channel_id)s limit 1) as as_of
) as channel
left join (
    select sku, ats from marts.atp_by_channel
    where channel_id = %(channel_id)s
      and sku = any(array(select jsonb_array_elements_text(%(skus)s::jsonb)))
) as found on true
"""

# Which part of a key is unknown, asked only when a lookup found nothing.
LOCATION_KNOWN = "select exists (select 1 from marts.atp_by_location where location_id = %(location_id)s)"
CHANNEL_KNOWN = "select exists (select 1 from marts.atp_by_channel where channel_id = %(channel_id)s)"
