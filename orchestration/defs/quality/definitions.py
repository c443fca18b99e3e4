import dagster as dg

from orchestration.defs.quality.assets import QUALITY_ASSETS
from orchestration.defs.quality.checks import raw_suite_checks
from orchestration.defs.quality.resources import GreatExpectationsValidator

defs = dg.Definitions(
    assets=QUALITY_ASSETS,
    asset_checks=[raw_suite_checks],
    resources={"great_expectations": GreatExpectationsValidator()},
)
