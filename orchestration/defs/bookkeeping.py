"""Tables the platform writes as a side effect of its steps, declared so the asset graph shows them.

dbt reads them as sources. Undeclared, Dagster drew them as bare stubs in the `default` group,
without owner or lineage. Each is an external asset: no step materializes it by itself; the
description says which step writes it, and its deps draw that step's assets upstream of it.
"""

import dagster as dg

from orchestration.defs.ingestion.assets import UNROUTED_KEY, raw_asset_key
from orchestration.defs.quality.assets import INVENTORY_EXCEPTIONS_KEY
from orchestration.lib.feeds import FEEDS

BOOKKEEPING_SPECS = [
    dg.AssetSpec(
        key=["meta", "file_ledger"],
        deps=[*(raw_asset_key(feed) for feed in FEEDS), UNROUTED_KEY],
        group_name="ingestion",
        owners=["team:integration"],
        kinds={"postgres"},
        description="Every landing file the ingest steps saw: path, hash, status (loaded, duplicate, "
        "quarantined with its reason), rows and the pages they went to. Written by the ingest steps, "
        "one row per file, exactly once (docs/ingestion.md).",
        metadata={"dagster/table_name": "meta.file_ledger"},
    ),
    dg.AssetSpec(
        key=["dbt_bookkeeping", "dbt_runs"],
        group_name="ops",
        owners=["team:platform"],
        kinds={"dbt", "postgres"},
        description="One row per dbt build: its run_seq and the data time (as_of) it builds to. Written by "
        "the on-run-start hook of every dbt build (docs/data-model.md, incremental builds).",
        metadata={"dagster/table_name": "meta.dbt_runs"},
    ),
    dg.AssetSpec(
        key=["dbt_bookkeeping", "dbt_load_runs"],
        deps=[["meta", "file_ledger"]],
        group_name="ops",
        owners=["team:platform"],
        kinds={"dbt", "postgres"},
        description="Which build first read each load of the file ledger, so that incremental models read "
        "only the loads after their watermark. Written by the on-run-start hook of every dbt build.",
        metadata={"dagster/table_name": "meta.dbt_load_runs"},
    ),
    dg.AssetSpec(
        key=["quality", "inventory_exception_history"],
        deps=[INVENTORY_EXCEPTIONS_KEY],
        group_name="quality",
        owners=["team:integration"],
        kinds={"postgres"},
        description="Every transition of every exception (opened, resolved, reopened, acknowledged), "
        "appended by quality/inventory_exceptions (docs/quality.md).",
        metadata={"dagster/table_name": "quality.inventory_exception_history"},
    ),
]

defs = dg.Definitions(assets=BOOKKEEPING_SPECS)
