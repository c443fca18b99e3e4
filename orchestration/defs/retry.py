"""How steps that talk to the warehouse survive a database outage: Dagster retries them.

A step of the ingestion or dbt assets that fails because PostgreSQL went away (restart, failover,
network) is retried after a delay that doubles each time (5 s, 10 s, 20 s by default). Nothing is
lost meanwhile: a file's load commits with its ledger row or not at all, and a dbt build resumes
from its watermarks (docs/data-model.md). A dbt build whose models or tests fail on the data is
not retried (it would fail the same way; orchestration/defs/dbt/resource.py); other failures are
retried and fail the run once the retries are spent. OMNI_RETRY_MAX and OMNI_RETRY_DELAY_SECONDS
override the defaults (read when the code location loads).

Such a step fails with one line naming the database (password redacted) and the driver's reason
(`warehouse_unreachable`), not with the driver's traceback or a dbt log of every model it could
not build.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg

from orchestration.lib.database import redact
from orchestration.lib.dbt_runner import OUTAGE_HINTS

DEFAULT_MAX_RETRIES = 3
DEFAULT_DELAY_SECONDS = 5.0
# SQLSTATEs of a server that went away: connection exceptions, and shutdown / not yet accepting.
OUTAGE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def warehouse_retry_policy() -> dg.RetryPolicy:
    return dg.RetryPolicy(
        max_retries=int(os.environ.get("OMNI_RETRY_MAX", DEFAULT_MAX_RETRIES)),
        delay=float(os.environ.get("OMNI_RETRY_DELAY_SECONDS", DEFAULT_DELAY_SECONDS)),
        backoff=dg.Backoff.EXPONENTIAL,
    )


def is_outage(error: BaseException) -> bool:
    """Whether a psycopg error means the server went away (not a query failing on the data)."""
    if not isinstance(error, psycopg.OperationalError):
        return False
    # No SQLSTATE: the client lost or never got a connection (refused, closed unexpectedly).
    return error.sqlstate is None or error.sqlstate.startswith(OUTAGE_SQLSTATES)


def warehouse_unreachable(url: str, error: BaseException) -> dg.Failure:
    """The step failure of an outage: the database (no password) and the first line saying why.

    Retries stay allowed: the retry policy decides how often and how long to wait.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next(
        (line for line in lines if any(hint in line.lower() for hint in OUTAGE_HINTS)),
        lines[0] if lines else type(error).__name__,
    )
    return dg.Failure(
        description=f"the warehouse database {redact(url)} is unreachable: {reason}", allow_retries=True
    )


@contextmanager
def reporting_outages(url: str) -> Iterator[None]:
    """Around a step's work on the warehouse at `url`: an outage fails it with `warehouse_unreachable`."""
    try:
        yield
    except psycopg.OperationalError as error:
        if not is_outage(error):
            raise
        raise warehouse_unreachable(url, error) from error
