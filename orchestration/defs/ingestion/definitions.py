import dagster as dg

from orchestration.defs.ingestion.assets import INGESTION_ASSETS
from orchestration.defs.ingestion.sensors import (
    FILE_ARRIVAL_SENSORS,
    INGESTION_SCHEDULES,
    erp_master_job,
    landing_sweep_job,
)

defs = dg.Definitions(
    assets=INGESTION_ASSETS,
    sensors=FILE_ARRIVAL_SENSORS,
    schedules=INGESTION_SCHEDULES,
    jobs=[erp_master_job, landing_sweep_job],
)
