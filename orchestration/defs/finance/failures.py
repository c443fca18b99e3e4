"""A run-failure sensor that records every failed run of the code location in `ops.run_failures`.

One row per failed run (run id, job, failed steps, error message, when it failed), next to the ops
marts, so that failures can be counted and charted like any other process metric. The table is
created idempotently on first use; recording the same run twice changes nothing.

(No `from __future__ import annotations` here: Dagster reads the resource annotation at runtime.)
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import psycopg

from orchestration.defs.resources import Warehouse

RUN_FAILURE_SENSOR = "record_run_failures"

RUN_FAILURES_DDL = """
create schema if not exists ops;
create table if not exists ops.run_failures (
    run_id         text primary key,
    job_name       text not null,
    failed_steps   text[] not null,
    error_message  text,
    step_errors    jsonb not null,
    failed_at      timestamptz not null,
    recorded_at    timestamptz not null default now()
);
"""


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    failed_steps: list[str]
    error_message: str | None
    step_errors: dict[str, str]
    failed_at: datetime


def record_run_failure(url: str, failure: RunFailure) -> bool:
    """Insert the failure unless the run is already recorded; True when a row was written."""
    with psycopg.connect(url) as conn, conn.transaction():
        # Two first recordings at once must not race on CREATE ... IF NOT EXISTS.
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ops.run_failures'))")
        conn.execute(RUN_FAILURES_DDL)
        inserted = conn.execute(
            "insert into ops.run_failures (run_id, job_name, failed_steps, error_message, step_errors, failed_at)"
            " values (%s, %s, %s, %s, %s, %s) on conflict (run_id) do nothing",
            (
                failure.run_id,
                failure.job_name,
                failure.failed_steps,
                failure.error_message,
                psycopg.types.json.Jsonb(failure.step_errors),
                failure.failed_at,
            ),
        ).rowcount
    return inserted == 1


def error_chain(error: Any) -> str:
    """The error's message and those of its causes (the step wrapper says little; the cause says why)."""
    messages = []
    while error is not None:
        messages.append(error.message.strip())
        error = error.cause
    return " | caused by: ".join(messages)


def run_failure(context: dg.RunFailureSensorContext) -> RunFailure:
    """What the sensor records about the failed run of `context`."""
    run = context.dagster_run
    step_events = context.get_step_failure_events()
    step_errors = {
        # every event here is a STEP_FAILURE, whose data the typed accessor returns as StepFailureData
        event.step_key: error_chain(event.step_failure_data.error)
        for event in step_events
        if event.step_key and event.event_specific_data is not None and event.step_failure_data.error
    }
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    return RunFailure(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_steps=sorted({event.step_key for event in step_events if event.step_key}),
        error_message=context.failure_event.message,
        step_errors=step_errors,
        failed_at=datetime.fromtimestamp(ended, UTC) if ended else datetime.now(UTC),
    )


@dg.run_failure_sensor(
    name=RUN_FAILURE_SENSOR,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records every failed run of this code location in ops.run_failures (run id, job, failed "
    "steps, error message, time).",
)
def record_run_failures(context: dg.RunFailureSensorContext, warehouse: Warehouse) -> None:
    failure = run_failure(context)
    if record_run_failure(warehouse.url(), failure):
        context.log.info(
            f"recorded failed run {failure.run_id} of {failure.job_name}: {failure.failed_steps}"
        )
