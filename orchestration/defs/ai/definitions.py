"""The AI-assisted operations area; orchestration/definitions.py merges it."""

import dagster as dg

from orchestration.defs.ai.assets import AI_ASSETS

defs = dg.Definitions(assets=AI_ASSETS)
