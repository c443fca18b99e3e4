import dagster as dg

from orchestration.defs.quality.assets import QUALITY_ASSETS
from orchestration.defs.quality.checks import QUALITY_CHECKS
from orchestration.defs.quality.resources import GreatExpectationsValidator

defs = dg.Definitions(
    assets=QUALITY_ASSETS,
    asset_checks=QUALITY_CHECKS,
    resources={"great_expectations": GreatExpectationsValidator()},
)
