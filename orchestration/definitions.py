"""The Dagster code location: every area's definitions merged, plus the shared resources."""

from pathlib import Path

import dagster as dg

from orchestration.defs import bookkeeping
from orchestration.defs.ai import definitions as ai
from orchestration.defs.channel_sync import definitions as channel_sync
from orchestration.defs.dbt import definitions as dbt
from orchestration.defs.finance import definitions as finance
from orchestration.defs.ingestion import definitions as ingestion
from orchestration.defs.quality import definitions as quality
from orchestration.defs.resources import Warehouse

ALL_ASSETS_JOB = "materialize_everything"

# Dagster loads the single Definitions object at module scope; the areas' own objects are
# reached through their modules so that they are not mistaken for a second one.
defs = dg.Definitions.merge(
    dg.Definitions(
        resources={"warehouse": Warehouse()},
        # Every job, including the sensor's micro-batch runs, runs its steps in the run's process:
        # a process per step costs seconds each and a micro-batch has several steps.
        executor=dg.in_process_executor,
        jobs=[
            dg.define_asset_job(
                ALL_ASSETS_JOB,
                selection=dg.AssetSelection.all(),
                description="Every asset once: what `omni-inventory run` executes.",
                executor_def=dg.in_process_executor,
            )
        ],
    ),
    ingestion.defs,
    dbt.defs,
    quality.defs,
    finance.defs,
    bookkeeping.defs,
    ai.defs,
    channel_sync.defs,
)


def warm_up() -> list[Path]:
    """What a standby run worker does before its run comes (lib/warm_run_launcher.py).

    Imports Great Expectations and parses the dbt project (seconds of CPU that a run would
    otherwise spend beside its dbt step). Returns the files that parse read, the dbt project's
    and its prepared state: if one changes before the run comes, the run goes to a fresh worker.
    """
    from orchestration.defs.dbt.project import TARGET_DIR, manifest_path, project_files
    from orchestration.defs.dbt.resource import project_dbt
    from orchestration.lib.dbt_runner import PARTIAL_PARSE_FILE
    from orchestration.lib.quality.gx_validation import import_great_expectations
    from orchestration.lib.settings import DBT_PROJECT_DIR

    import_great_expectations()
    project_dbt().manifest()
    return [manifest_path(), DBT_PROJECT_DIR / TARGET_DIR / PARTIAL_PARSE_FILE, *project_files()]
