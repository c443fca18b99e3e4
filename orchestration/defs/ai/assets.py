"""AI-assisted operations as assets (docs/ai.md): after the state marts, before and after the
exceptions. Decision support: they rank, flag, explain and suggest, and change no figure.

(No `from __future__ import annotations` here: Dagster reads the annotations at runtime.)
"""

import dagster as dg
import psycopg

from orchestration.defs.quality.assets import INVENTORY_EXCEPTIONS_KEY
from orchestration.defs.resources import Warehouse
from orchestration.defs.retry import reporting_outages, warehouse_retry_policy
from orchestration.lib.ai.anomalies import Parameters, store_anomalies
from orchestration.lib.ai.clusters import rebuild_clusters
from orchestration.lib.ai.policy import rebuild_policy_suggestions
from orchestration.lib.ai.queue import rebuild_exception_queue
from orchestration.lib.quality.snapshot_index import data_as_of

ANOMALIES_KEY = dg.AssetKey(["ai", "anomalies"])
OWNERS = ["team:analytics_engineering"]


def _key(*path: str) -> dg.AssetKey:
    return dg.AssetKey(list(path))


@dg.asset(
    key=ANOMALIES_KEY,
    deps=[
        _key("marts", "inventory_position"),
        _key("staging", "stg_channel__orders"),
        _key("staging", "stg_wms__movements"),
        _key("staging", "stg_erp__items"),
        _key("raw", "erp__book_inventory"),
        _key("raw", "pos__inventory"),
        _key("raw", "wms__inventory"),
    ],
    group_name="ai",
    owners=OWNERS,
    kinds={"python", "statsmodels", "postgres"},
    retry_policy=warehouse_retry_policy(),
    description="RECURRING_COUNT_VARIANCE, DEMAND_SPIKE and MOVEMENT_ANOMALY findings with a score and an "
    "explanation a planner can act on; each open one is also an ANOMALY_<type> exception (docs/ai.md).",
    metadata={"dagster/table_name": "ai.anomalies"},
)
def anomalies(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    url = warehouse.url()
    with reporting_outages(url):
        with psycopg.connect(url) as conn:
            as_of = data_as_of(conn)
        try:
            found = store_anomalies(url, as_of, Parameters())
        except psycopg.OperationalError:
            raise  # the database: retried like every step
        except Exception as error:
            # Decision support must never stop the exceptions and the quality gate downstream:
            # the previous anomalies stay, and the failure is said where people look.
            context.log.error(f"anomaly detection failed; the anomalies of the previous run stay: {error!r}")
            return dg.MaterializeResult(metadata={"error": repr(error)[:1000], "as_of": str(as_of)})
    context.log.info(f"anomalies at {as_of}: {found or 'none'}")
    return dg.MaterializeResult(
        metadata={
            "open_by_type": dg.MetadataValue.json(found),
            "open": sum(found.values()),
            "as_of": str(as_of),
        }
    )


@dg.asset(
    key=_key("quality", "exception_queue"),
    deps=[
        INVENTORY_EXCEPTIONS_KEY,
        _key("marts", "inventory_position"),
        _key("intermediate", "int_replenishment__daily_demand"),
    ],
    group_name="quality",
    owners=["team:integration"],
    kinds={"postgres"},
    retry_policy=warehouse_retry_policy(),
    description="Every open exception with its priority_score (units at risk x unit cost x urgency x severity) "
    "and priority_rank within its owner team, in that order (docs/ai.md).",
    metadata={"dagster/table_name": "quality.exception_queue"},
)
def exception_queue(warehouse: Warehouse) -> dg.MaterializeResult:
    url = warehouse.url()
    with reporting_outages(url):
        queued = rebuild_exception_queue(url)
    return dg.MaterializeResult(metadata={"dagster/row_count": queued})


@dg.asset(
    key=_key("ai", "exception_clusters"),
    deps=[INVENTORY_EXCEPTIONS_KEY, _key("ops", "feed_latency")],
    group_name="ai",
    owners=OWNERS,
    kinds={"python", "scikit-learn", "postgres"},
    retry_policy=warehouse_retry_policy(),
    description="Open exceptions grouped by a shared cause, each group with its likely root cause from the "
    "file ledger, run failures and feed latency, a summary and a suggested action (docs/ai.md).",
    metadata={"dagster/table_name": "ai.exception_clusters"},
)
def exception_clusters(warehouse: Warehouse) -> dg.MaterializeResult:
    url = warehouse.url()
    with reporting_outages(url):
        clusters = rebuild_clusters(url)
    return dg.MaterializeResult(metadata={"dagster/row_count": clusters})


@dg.asset(
    key=_key("ai", "policy_suggestions"),
    deps=[ANOMALIES_KEY, _key("staging", "stg_erp__channel_policy")],
    group_name="ai",
    owners=OWNERS,
    kinds={"postgres"},
    retry_policy=warehouse_retry_policy(),
    description="A temporary reservation-policy change for each open DEMAND_SPIKE: suggested, never applied "
    "(docs/ai.md).",
    metadata={"dagster/table_name": "ai.policy_suggestions"},
)
def policy_suggestions(warehouse: Warehouse) -> dg.MaterializeResult:
    url = warehouse.url()
    with reporting_outages(url):
        suggestions = rebuild_policy_suggestions(url)
    return dg.MaterializeResult(metadata={"dagster/row_count": suggestions})


AI_ASSETS = [anomalies, exception_queue, exception_clusters, policy_suggestions]
