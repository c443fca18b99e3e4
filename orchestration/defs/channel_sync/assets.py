"""The channel availability feed: after each build, every changed channel x sku `ats`, once.

It hangs below marts/atp_by_channel, so the full job (every asset) and every micro-batch run of
the landing-zone sensor (the fed raw assets and everything downstream) include it; the ops mart
allocation_accuracy reads its ledger (dbt source channel_sync.channel_published_ats) and so runs
after it. It does not wait for the quality gate: withholding a low-stock revision from the
channels is what oversells, and the gate's findings reach the ops marts anyway.

(No `from __future__ import annotations` here: Dagster reads the resource annotation at runtime.)
"""

import dagster as dg

from orchestration.defs.resources import Warehouse
from orchestration.defs.retry import warehouse_retry_policy
from orchestration.lib.channel_publisher import publish_changes
from orchestration.lib.settings import load_settings

CHANNEL_FEED_KEY = dg.AssetKey(["channel_sync", "channel_availability_feed"])
ATP_BY_CHANNEL_KEY = dg.AssetKey(["marts", "atp_by_channel"])


@dg.asset(
    key=CHANNEL_FEED_KEY,
    deps=[ATP_BY_CHANNEL_KEY],
    group_name="availability",
    kinds={"postgres", "python"},
    owners=["team:integration"],
    retry_policy=warehouse_retry_policy(),
    description="Writes every channel x sku whose ats changed since it was last published to "
    "$OMNI_OUTBOUND_DIR/channel/<channel_id>/availability_<as_of>.jsonl, atomically and once per change, "
    "recorded in the publication ledger meta.channel_publication_batches / channel_publications "
    "(docs/contract.md section 8, docs/api.md).",
    metadata={"dagster/table_name": "meta.channel_published_ats"},
)
def channel_availability_feed(
    context: dg.AssetExecutionContext, warehouse: Warehouse
) -> dg.MaterializeResult:
    outbound = load_settings().channel_outbound_dir
    report = publish_changes(warehouse.url(), outbound, log=context.log.info)
    return dg.MaterializeResult(
        metadata={
            "changes_published": report.changes,
            "files_written": len(report.published),
            "files": dg.MetadataValue.json([str(b.path(outbound)) for b in report.published][:50]),
            "pending_batches_found_written": len(report.recovered_present),
            "pending_batches_written_again": len(report.recovered_rewritten),
        }
    )
