"""Headless execution: what `omni-inventory run` does."""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING

import psycopg

from orchestration.lib.database import export_environment
from orchestration.lib.raw_schema import ensure_warehouse
from orchestration.lib.settings import Settings, load_settings

if TYPE_CHECKING:  # dagster is imported where a run executes: `omni-inventory db` does not pay for it
    from dagster import ExecuteInProcessResult
    from dagster._utils.error import SerializableErrorInfo

# How SerializableErrorInfo names a step's own dg.Failure (`module.Class: description`).
FAILURE_CLASS = "dagster._core.definitions.events.Failure"


def prepare(settings: Settings | None = None) -> str:
    """Resolve (or start) the database, publish its URL to every client, create the raw layer."""
    settings = settings or load_settings()
    # The default landing zone is created on first use; one named by OMNI_LANDING_DIR is not, so
    # that a mistyped path fails the run naming it (LandingDirMissing) instead of loading nothing.
    named = bool(os.environ.get("OMNI_LANDING_DIR")) and settings.landing_dir != settings.home / "landing"
    url = export_environment(settings)  # which sets OMNI_LANDING_DIR for every client
    if not named:
        settings.landing_dir.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    return url


def prepare_artifacts() -> list[str]:
    """Build-time artifacts: the dbt manifest, parsed once instead of on every code-location load."""
    from orchestration.defs.dbt.project import prepare_manifest

    return [f"dbt manifest: {prepare_manifest()}"]


def run_everything(settings: Settings | None = None) -> tuple[bool, str]:
    """Materialize every asset once in this process, recorded in the Dagster instance.

    Returns (success, a readable summary naming every failed step and its error).
    """
    import dagster as dg

    from orchestration.lib.dagster_instance import prepare_dagster_home

    settings = settings or load_settings()
    url = prepare(settings)
    prepare_dagster_home(settings)

    from orchestration.definitions import ALL_ASSETS_JOB, defs
    from orchestration.lib.orphaned_runs import end_orphaned_runs, forget_worker, record_worker, worker_tag
    from orchestration.lib.run_progress import StepProgress, elapsed, open_exception_summary

    job = defs.resolve_job_def(ALL_ASSETS_JOB)
    run_id = str(uuid.uuid4())  # known before the run starts, so that its progress can be followed
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        ended = end_orphaned_runs(instance)
    with dg.DagsterInstance.get() as instance, StepProgress(instance, run_id, len(job.graph.nodes)):
        record_worker(instance, run_id, worker_tag())  # a kill leaves it STARTED: the next start ends it
        try:
            result = job.execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_id=run_id,
                # The progress bar says what is at work; the console shows what needs a look
                # (quarantined files, failures). Every message is in the run's log in the UI.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        finally:
            forget_worker(instance, run_id)
    lines = [
        *(f"run {run} had been left unfinished by a killed process: marked failed" for run in ended),
        f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {elapsed(started)}",
        *step_failures(result),
    ]
    materialized = len(result.get_asset_materialization_events())
    lines.append(f"  {materialized} asset materializations")
    lines += open_exception_summary(url)
    return result.success, "\n".join(lines)


def step_failures(result: ExecuteInProcessResult) -> list[str]:
    """One line per failed step: its key and the reason it failed."""
    lines = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error if event.step_failure_data else None
            lines.append(f"  step {event.step_key} failed: {failure_reason(error)}")
    return lines


def failure_reason(error: SerializableErrorInfo | None) -> str:
    """The reason of a step failure, not Dagster's wrappers around it.

    A step whose retries ran out fails with "Exceeded max_retries of N": the reason is its cause.
    A step's own dg.Failure is reported by its description, without the class name.
    """
    if error is None:
        return "unknown error"
    while error.cls_name == "RetryRequestedFromPolicy" and error.cause is not None:
        error = error.cause
    return error.message.strip().removeprefix(f"{FAILURE_CLASS}: ")
