"""A Dagster run of the platform's assets in this process, the way `omni-inventory run` does it.

`python -m tests.reliability.job_runner` materializes assets on the database and landing zone of
the environment (OMNI_*), recorded in the Dagster instance (schema `dagster` of the same
database), and exits 1 if the run failed. OMNI_TEST_SELECTION chooses what the run covers:

- `all` (default): `omni-inventory run` itself (every asset and check);
- `inventory`: the inventory and availability marts and everything upstream of them (every
  feed's ingestion, every dbt model below them) plus the Great Expectations raw checks; dbt's
  own tests are left out (they are checks, not state, and cost most of a dbt build);
- `inventory_models`: the same without any check.

OMNI_TEST_DAGSTER_STORAGE_URL puts Dagster's storage on another server than the warehouse (the
outage test stops the warehouse and still reads the run's events).
"""

from __future__ import annotations

import os
import sys

import dagster as dg

from orchestration.lib.dagster_instance import prepare_dagster_home
from orchestration.lib.database import dagster_storage_url, ensure_dagster_schema
from orchestration.lib.settings import load_settings
from orchestration.pipeline import prepare, run_everything, step_failures

INVENTORY_MARTS = ("inventory_position", "atp_by_location", "atp_by_channel", "atp_network", "atp_timephased")
GX_RAW_CHECKS_STEP = "great_expectations_raw_suites"
JOB = "reliability_subset"


def selection(name: str) -> dg.AssetSelection:
    marts = [dg.AssetKey(["marts", mart]) for mart in INVENTORY_MARTS]
    models = dg.AssetSelection.assets(*marts).upstream().without_checks()
    if name == "inventory_models":
        return models
    from orchestration.defs.quality.checks import raw_suite_checks

    return models | dg.AssetSelection.checks(*raw_suite_checks.check_keys)


def run_subset(name: str) -> bool:
    settings = load_settings()
    prepare(settings)
    prepare_dagster_home(settings)
    from orchestration.definitions import defs

    job = dg.define_asset_job(JOB, selection=selection(name), executor_def=dg.in_process_executor)
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(JOB)
    storage = os.environ.get("OMNI_TEST_DAGSTER_STORAGE_URL")
    if storage:
        os.environ["OMNI_DAGSTER_STORAGE_URL"] = dagster_storage_url(storage)
        ensure_dagster_schema(storage)
    with dg.DagsterInstance.get() as instance:
        result = resolved.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
    # the failed steps' reasons as `omni-inventory run` prints them
    print(
        "\n".join(
            [f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}", *step_failures(result)]
        )
    )
    return result.success


def main() -> int:
    name = os.environ.get("OMNI_TEST_SELECTION", "all")
    if name == "all":
        ok, message = run_everything()
        print(message)
    else:
        ok = run_subset(name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
