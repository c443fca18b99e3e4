import dagster as dg

from orchestration.defs.ingestion.assets import INGESTION_ASSETS
from orchestration.defs.ingestion.sensors import (
    INGESTION_SCHEDULES,
    erp_master_job,
    landing_sweep_job,
    landing_zone_arrival,
    micro_batch_job,
)

defs = dg.Definitions(
    assets=INGESTION_ASSETS,
    sensors=[landing_zone_arrival],
    schedules=INGESTION_SCHEDULES,
    jobs=[erp_master_job, landing_sweep_job, micro_batch_job],
)
