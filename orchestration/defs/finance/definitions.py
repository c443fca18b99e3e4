"""The finance close schedule and the run-failure sensor; orchestration/definitions.py merges them."""

import dagster as dg

from orchestration.defs.finance.close import finance_close_job, finance_close_schedule
from orchestration.defs.finance.failures import record_run_failures

defs = dg.Definitions(
    jobs=[finance_close_job], schedules=[finance_close_schedule], sensors=[record_run_failures]
)
