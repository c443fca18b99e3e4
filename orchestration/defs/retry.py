"""How steps that talk to the warehouse survive a database outage: Dagster retries them.

A step of the ingestion or dbt assets that fails because PostgreSQL went away (restart, failover,
network) is retried after a delay that doubles each time (5 s, 10 s, 20 s by default). Nothing is
lost meanwhile: a file's load commits with its ledger row or not at all, and a dbt build resumes
from its watermarks (docs/data-model.md). A dbt build whose models or tests fail on the data is
not retried (it would fail the same way; orchestration/defs/dbt/resource.py); other failures are
retried and fail the run once the retries are spent. OMNI_RETRY_MAX and OMNI_RETRY_DELAY_SECONDS
override the defaults (read when the code location loads).
"""

import os

import dagster as dg

DEFAULT_MAX_RETRIES = 3
DEFAULT_DELAY_SECONDS = 5.0


def warehouse_retry_policy() -> dg.RetryPolicy:
    return dg.RetryPolicy(
        max_retries=int(os.environ.get("OMNI_RETRY_MAX", DEFAULT_MAX_RETRIES)),
        delay=float(os.environ.get("OMNI_RETRY_DELAY_SECONDS", DEFAULT_DELAY_SECONDS)),
        backoff=dg.Backoff.EXPONENTIAL,
    )
