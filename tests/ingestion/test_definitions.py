"""The Dagster code location: asset graph, sensors, schedules, jobs."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from orchestration.definitions import ALL_ASSETS_JOB, defs
from orchestration.defs.finance.failures import RUN_FAILURE_SENSOR
from orchestration.defs.ingestion.sensors import DEFAULT_SENSOR_INTERVAL_SECONDS, LANDING_SENSOR
from orchestration.defs.quality.checks import PRIORITY_TAG, raw_suite_checks
from orchestration.lib.feeds import FEEDS


def test_every_feed_is_an_asset_of_its_source() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {f"raw/{feed.raw_table}" for feed in FEEDS} <= keys
    assert "raw/unrouted_files" in keys
    for feed in FEEDS:
        node = graph.get(dg.AssetKey(["raw", feed.raw_table]))
        assert node.group_name == "ingestion"
        assert [c.name for c in node.metadata["dagster/column_schema"].columns] == [
            c.name for c in feed.columns
        ]
        # the feed's SLA is the asset's freshness policy
        assert node.freshness_policy.warn_window.to_timedelta() == timedelta(minutes=feed.sla_minutes)
        assert node.freshness_policy.fail_window.to_timedelta() == timedelta(minutes=4 * feed.sla_minutes)


def test_one_landing_sensor_and_the_schedules_exist_and_start_running() -> None:
    file_sensors = [s for s in defs.sensors if s.name != RUN_FAILURE_SENSOR]
    assert [s.name for s in file_sensors] == [LANDING_SENSOR]
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds == DEFAULT_SENSOR_INTERVAL_SECONDS
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["erp_master_hourly"].cron_schedule == "0 * * * *"
    assert schedules["landing_sweep_every_30_minutes"].cron_schedule == "*/30 * * * *"


def test_jobs_resolve() -> None:
    for name in (ALL_ASSETS_JOB, "erp_master_refresh", "landing_sweep", "landing_micro_batch"):
        assert defs.resolve_job_def(name) is not None


def test_sensor_runs_execute_in_one_process() -> None:
    # the sensor's runs are its own job, named in the Runs list, whose steps must not each start a
    # process (seconds per step in a micro-batch)
    sensor = defs.resolve_sensor_def(LANDING_SENSOR)
    assert sensor.job_name == "landing_micro_batch"
    assert defs.resolve_job_def("landing_micro_batch").executor_def.name == dg.in_process_executor.name


def test_raw_checks_yield_to_dbt_when_both_could_run() -> None:
    # the in-process executor starts the ready step of highest priority first (0 by default):
    # a micro-batch's marts do not wait for the Great Expectations raw checks
    assert int(raw_suite_checks.op.tags[PRIORITY_TAG]) < 0
