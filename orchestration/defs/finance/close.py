"""The daily finance close: a job that rebuilds the finance marts and everything they stand on.

The selection is every `finance/*` asset and its upstream (ingestion of pending files, the dbt
models, the exceptions and the blocking gate), so that the close runs on current data and never
on data the gate stopped. In-process executor, like every job of the code location.
"""

import dagster as dg

FINANCE_PREFIX = ["finance"]
FINANCE_CLOSE_JOB = "finance_close"
FINANCE_CLOSE_SCHEDULE = "finance_close_daily"
# 05:30 UTC: after the ERP's midnight books and GL balances have landed, before the working day.
FINANCE_CLOSE_CRON = "30 5 * * *"

finance_close_job = dg.define_asset_job(
    FINANCE_CLOSE_JOB,
    selection=dg.AssetSelection.key_prefixes(FINANCE_PREFIX).upstream().materializable(),
    description="Daily finance close: inventory ledger, valuation, reconciliation and close readiness, "
    "with everything upstream of them (ingestion, dbt, exceptions, the quality gate).",
    executor_def=dg.in_process_executor,
    tags={"omni/purpose": "finance_close"},
)

finance_close_schedule = dg.ScheduleDefinition(
    name=FINANCE_CLOSE_SCHEDULE,
    job=finance_close_job,
    cron_schedule=FINANCE_CLOSE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Runs the finance close once a day (05:30 UTC); close_readiness then says which legal "
    "entities can close.",
)
