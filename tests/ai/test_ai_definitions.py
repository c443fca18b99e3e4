"""The ai assets in the code location: owners, kinds, and in every micro-batch of the feeds they read."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.defs.ingestion.assets import raw_asset_key
from orchestration.lib.feeds import FEEDS

AI_KEYS = [
    dg.AssetKey(["ai", "anomalies"]),
    dg.AssetKey(["ai", "exception_clusters"]),
    dg.AssetKey(["ai", "policy_suggestions"]),
    dg.AssetKey(["quality", "exception_queue"]),
]


def test_every_ai_asset_has_an_owner_and_kinds() -> None:
    graph = defs.resolve_asset_graph()
    for key in AI_KEYS:
        node = graph.get(key)
        assert node.owners and node.kinds, key
        assert node.group_name == ("quality" if key.path[0] == "quality" else "ai")


@pytest.mark.parametrize("feed_id", ["channel/orders", "wms/movements", "pos/inventory"])
def test_a_micro_batch_of_the_feeds_they_read_rebuilds_them(feed_id: str) -> None:
    graph = defs.resolve_asset_graph()
    feed = next(f for f in FEEDS if f.feed_id == feed_id)
    selected = dg.AssetSelection.assets(raw_asset_key(feed)).downstream().materializable().resolve(graph)
    assert set(AI_KEYS) <= selected
    # anomalies are built before the exceptions that carry them as ANOMALY_<type>
    exceptions = dg.AssetKey(["quality", "inventory_exceptions"])
    assert dg.AssetKey(["ai", "anomalies"]) in graph.get(exceptions).parent_keys
