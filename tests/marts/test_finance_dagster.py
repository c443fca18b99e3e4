"""The finance close schedule and the run-failure sensor, evaluated by Dagster itself (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.defs.finance.close import FINANCE_CLOSE_JOB, FINANCE_CLOSE_SCHEDULE
from orchestration.defs.finance.failures import RUN_FAILURE_SENSOR, record_run_failures
from orchestration.defs.quality.assets import BLOCKING_GATE_KEY, INVENTORY_EXCEPTIONS_KEY
from orchestration.defs.resources import Warehouse
from tests.support.dbt import query


def test_finance_close_schedule_requests_the_close_job_daily() -> None:
    schedule = defs.resolve_schedule_def(FINANCE_CLOSE_SCHEDULE)
    assert schedule.cron_schedule == "30 5 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance, scheduled_execution_time=datetime(2024, 5, 2, 5, 30, tzinfo=UTC)
        )
        result = schedule.evaluate_tick(context)
    assert schedule.job_name == FINANCE_CLOSE_JOB
    assert len(result.run_requests or []) == 1


def test_finance_close_job_builds_finance_on_top_of_the_quality_gate() -> None:
    job = defs.resolve_job_def(FINANCE_CLOSE_JOB)
    assert job.executor_def is dg.in_process_executor
    selected = job.asset_layer.selected_asset_keys
    finance = {key for key in selected if key.path[0] == "finance"}
    assert {
        dg.AssetKey(["finance", name])
        for name in ("inventory_ledger", "inventory_valuation", "inventory_reconciliation", "close_readiness")
    } <= finance
    assert {
        BLOCKING_GATE_KEY,
        INVENTORY_EXCEPTIONS_KEY,
        dg.AssetKey(["marts", "inventory_position"]),
    } <= selected
    # what the close does not need stays out
    assert not {key for key in selected if key.path[0] in ("replenishment", "ops")}


@dg.asset
def fragile() -> None:
    raise RuntimeError("the warehouse is on fire")


def test_run_failure_sensor_records_a_real_failed_run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI_DATABASE_URL", db_url)
    assert RUN_FAILURE_SENSOR in {sensor.name for sensor in defs.sensors}
    with dg.instance_for_test() as instance:
        result = dg.materialize([fragile], instance=instance, raise_on_error=False)
        assert not result.success
        context = dg.build_run_status_sensor_context(
            sensor_name=RUN_FAILURE_SENSOR,
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"warehouse": Warehouse()},
        ).for_run_failure()
        record_run_failures(context)
        record_run_failures(context)  # a second evaluation of the same run changes nothing
    rows = query(
        db_url,
        "select run_id, job_name, failed_steps, error_message, step_errors ->> 'fragile', failed_at"
        " from ops.run_failures",
    )
    assert len(rows) == 1
    run_id, job_name, failed_steps, error_message, step_error, failed_at = rows[0]
    assert (run_id, job_name, failed_steps) == (result.run_id, result.dagster_run.job_name, ["fragile"])
    assert "fragile" in error_message
    assert "the warehouse is on fire" in step_error
    assert failed_at is not None
