"""Omnichannel inventory platform: Dagster code location and the `omni-inventory` command."""
