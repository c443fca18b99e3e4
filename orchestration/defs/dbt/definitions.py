"""The dbt area's Dagster definitions; orchestration/definitions.py merges them."""

import dagster as dg

from orchestration.defs.dbt.assets import dbt_resource, omni_dbt_assets
from orchestration.defs.dbt.downstream import omni_dbt_after_quality_gate, omni_dbt_process_metrics

defs = dg.Definitions(
    assets=[omni_dbt_assets, omni_dbt_after_quality_gate, omni_dbt_process_metrics],
    resources={"dbt": dbt_resource},
)
