"""The channel sync area's definitions; orchestration/definitions.py merges them."""

import dagster as dg

from orchestration.defs.channel_sync.assets import channel_availability_feed

defs = dg.Definitions(assets=[channel_availability_feed])
