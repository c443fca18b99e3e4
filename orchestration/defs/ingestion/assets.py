"""Ingestion assets: one asset per feed (`raw/<source>__<feed>`), all of one multi-asset.

A run materializes only the selected feeds, in one step; each loads every pending file of its
folder exactly once. Quarantined files do not fail the run: they are reported in the metadata and the ledger,
and become MALFORMED_FILE exceptions downstream.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dagster as dg

from orchestration.defs.resources import Warehouse
from orchestration.defs.retry import reporting_outages, warehouse_retry_policy
from orchestration.lib.feeds import FEEDS, Feed
from orchestration.lib.landing import LandingDirMissing
from orchestration.lib.loader import FileOutcome, IngestReport, ingest

INGESTION_POOL = "omni_ingestion"
UNROUTED_KEY = dg.AssetKey(["raw", "unrouted_files"])


@contextmanager
def refusing_bad_settings() -> Iterator[None]:
    """A missing landing dir or a bad OMNI_MAX_CLOCK_SKEW fails the step with one line saying what to fix."""
    try:
        yield
    except (LandingDirMissing, ValueError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None


def raw_asset_key(feed: Feed) -> dg.AssetKey:
    return dg.AssetKey(["raw", feed.raw_table])


def _column_schema(feed: Feed) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=col.name,
                type=col.type,
                description=col.description,
                constraints=dg.TableColumnConstraints(nullable=col.name not in feed.not_null_columns),
            )
            for col in feed.columns
        ]
    )


def _spec(feed: Feed) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=raw_asset_key(feed),
        description=f"{feed.description} ({feed.kind} feed `{feed.feed_id}`, key {', '.join(feed.key)}).",
        group_name="ingestion",
        kinds={"postgres"},
        owners=[f"team:{feed.owner_team}"],
        tags={"source": feed.source, "feed_kind": feed.kind},
        # The feed's SLA as Dagster freshness: the UI marks a feed overdue past it (warn) and
        # four times it (fail), as `dbt source freshness` does from the same registry.
        freshness_policy=dg.FreshnessPolicy.time_window(
            warn_window=timedelta(minutes=feed.sla_minutes),
            fail_window=timedelta(minutes=4 * feed.sla_minutes),
        ),
        metadata={
            "dagster/column_schema": _column_schema(feed),
            "dagster/table_name": f"raw.{feed.raw_table}",
            "freshness_sla_minutes": feed.sla_minutes,
        },
    )


def _logger(context: dg.AssetExecutionContext):
    def log(outcome: FileOutcome, index: int, total: int) -> None:
        line = f"[{index}/{total}] {outcome.relative}: {outcome.status}"
        if outcome.status == "loaded":
            context.log.info(f"{line}, {outcome.rows} rows in {outcome.seconds:.2f}s")
        elif outcome.status == "quarantined":
            context.log.warning(f"{line}: {outcome.reason}")
        else:
            context.log.info(f"{line} ({outcome.reason})")

    return log


def _feed_metadata(report: IngestReport, feed: Feed) -> dict[str, dg.MetadataValue | int | str]:
    mine = [o for o in report.outcomes if o.feed == feed.feed_id]
    quarantined = [o for o in mine if o.status == "quarantined"]
    return {
        "files_loaded": sum(o.status == "loaded" for o in mine),
        "rows_loaded": sum(o.rows for o in mine if o.status == "loaded"),
        "files_duplicate": sum(o.status == "duplicate" for o in mine),
        "files_quarantined": len(quarantined),
        "quarantine_reasons": dg.MetadataValue.md("\n".join(f"- {o.reason}" for o in quarantined) or "none"),
    }


@dg.multi_asset(
    name="ingest",
    specs=[_spec(feed) for feed in FEEDS],
    can_subset=True,
    pool=INGESTION_POOL,
    retry_policy=warehouse_retry_policy(),
    description="Load pending landing files of the selected feeds exactly once into raw tables.",
)
def ingest_feeds(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[dg.MaterializeResult]:
    # One step for every feed a run selects, whatever its source: the loader loads the feeds in
    # one session per core (loader._load_in_parallel), which one step per source kept apart.
    selected = [f for f in FEEDS if raw_asset_key(f) in context.selected_asset_keys]
    # Files in an unknown folder under a selected source are quarantined by whichever run sees them.
    url = warehouse.url()
    with reporting_outages(url), refusing_bad_settings():
        report = ingest(
            url,
            warehouse.landing_dir(),
            sources=tuple(dict.fromkeys(f.source for f in selected)),
            feed_ids={f.feed_id for f in selected},
            on_file=_logger(context),
        )
    context.log.info(f"ingest: {report.summary()}")
    for entry in report.unsupported:  # by path and kind only: such an entry is never opened
        context.log.warning(
            f"{entry.relative}: a {entry.kind}, not a regular file: not read (UNSUPPORTED_FILE)"
        )
    for feed in selected:
        yield dg.MaterializeResult(asset_key=raw_asset_key(feed), metadata=_feed_metadata(report, feed))


@dg.asset(
    key=UNROUTED_KEY,
    group_name="ingestion",
    kinds={"postgres"},
    owners=["team:integration"],
    pool=INGESTION_POOL,
    retry_policy=warehouse_retry_policy(),
    description="Landing files that belong to no known feed (wrong folder, unknown source or file type): "
    "each is quarantined in meta.file_ledger with its reason, never silently ignored.",
)
def unrouted_files(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    url = warehouse.url()
    with reporting_outages(url), refusing_bad_settings():
        report = ingest(url, warehouse.landing_dir(), feed_ids=set(), on_file=_logger(context))
    unrouted = [o for o in report.outcomes if o.feed is None]
    return dg.MaterializeResult(
        metadata={
            "files_quarantined": len(unrouted),
            "quarantine_reasons": dg.MetadataValue.md("\n".join(f"- {o.reason}" for o in unrouted) or "none"),
        }
    )


INGESTION_ASSETS: list[dg.AssetsDefinition] = [ingest_feeds, unrouted_files]
