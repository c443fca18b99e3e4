"""AI-assisted operations on a world with three planted anomalies (tests/ai/world.py): real loader,
real dbt, real PostgreSQL, the real detectors, queue, clusters and suggestions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.ai.anomalies import store_anomalies
from orchestration.lib.ai.clusters import rebuild_clusters
from orchestration.lib.ai.policy import rebuild_policy_suggestions
from orchestration.lib.ai.queue import rebuild_exception_queue
from orchestration.lib.quality.exceptions import build_inventory_exceptions
from tests.ai.world import AS_OF, world
from tests.support.dbt import Dbt, deliver, query

MODELS = (
    "+inventory_position",
    "stg_channel__orders",
    "stg_wms__movements",
    "stg_erp__items",
    "stg_erp__channel_policy",
    "+int_replenishment__daily_demand",
)


def build_all(url: str) -> None:
    store_anomalies(url, AS_OF)
    build_inventory_exceptions(url)
    rebuild_exception_queue(url)
    rebuild_clusters(url)
    rebuild_policy_suggestions(url)


@pytest.fixture(scope="module")
def built(module_db: str, module_landing: Path, make_dbt: Callable[[str], Dbt]) -> str:
    deliver(module_db, module_landing, world())
    make_dbt(module_db)("run", "--select", *MODELS)
    build_all(module_db)
    return module_db


def test_each_planted_anomaly_is_found_and_nothing_else(built: str) -> None:
    found = query(
        built,
        "select anomaly_type, location_id, channel_id, sku from ai.anomalies where status = 'open' order by 1",
    )
    assert found == [
        ("DEMAND_SPIKE", None, "WEB", "A"),
        ("MOVEMENT_ANOMALY", "D1", None, None),
        ("RECURRING_COUNT_VARIANCE", "S1", None, None),
    ]


def test_every_anomaly_names_its_model_and_a_sentence_a_planner_can_act_on(built: str) -> None:
    rows = query(
        built, "select anomaly_type, explanation, model, model_version, parameters, score from ai.anomalies"
    )
    for _, explanation, model, version, parameters, score in rows:
        assert model and version and "spike_own_z" in parameters and 0 < score <= 1
        assert explanation.endswith(".") and len(explanation.split()) > 10
    texts = {r[0]: r[1] for r in rows}
    assert texts["RECURRING_COUNT_VARIANCE"].startswith(
        "S1: book above count on 4 of the last 5 days for up to 3 skus"
    )
    assert texts["DEMAND_SPIKE"].startswith("WEB / A: 40 units ordered in the 24 h to 14 May 20:00")
    assert "60 damaged" in texts["MOVEMENT_ANOMALY"] and "30 shrunk" in texts["MOVEMENT_ANOMALY"]


def test_open_anomalies_are_exceptions_of_their_owner_team(built: str) -> None:
    assert query(
        built,
        "select exception_type, owner_team, severity from quality.inventory_exceptions"
        " where exception_type like 'ANOMALY_%%' and status = 'open' order by 1",
    ) == [
        ("ANOMALY_DEMAND_SPIKE", "ecommerce", "warning"),
        ("ANOMALY_MOVEMENT_ANOMALY", "dc_operations", "warning"),
        ("ANOMALY_RECURRING_COUNT_VARIANCE", "store_operations", "warning"),
    ]


def test_each_anomaly_states_its_value_at_risk_and_the_queue_ranks_it_by_that(built: str) -> None:
    # A costs 10, B 11, C 12 (tests/ai/world.py)
    assert query(
        built, "select anomaly_type, value_at_risk::float from ai.anomalies where status = 'open' order by 1"
    ) == [
        ("DEMAND_SPIKE", (40 - 3) * 10.0),  # 40 ordered against a median of 3 a day
        ("MOVEMENT_ANOMALY", 60 * 10.0 + 30 * 11.0),  # 60 A damaged, 30 B shrunk
        ("RECURRING_COUNT_VARIANCE", 3 * (10.0 + 11.0 + 12.0)),  # book 3 above count for A, B, C
    ]
    queued = query(
        built,
        "select q.value_at_risk::float, a.value_at_risk::float, q.priority_score::float, q.hours_to_stockout,"
        " q.hours_to_close::float from quality.exception_queue q"
        " join ai.anomalies a on a.anomaly_id = q.details ->> 'anomaly_id'",
    )
    assert len(queued) == 3
    for queue_value, anomaly_value, score, hours_to_stockout, hours_to_close in queued:
        assert queue_value == anomaly_value
        hours = min(float(hours_to_stockout or hours_to_close), hours_to_close)
        assert score == pytest.approx(anomaly_value * (1 + 24 / max(hours, 1)), abs=0.5)


def test_the_queue_ranks_every_open_exception_uniquely_within_its_team(built: str) -> None:
    open_count = query(built, "select count(*) from quality.inventory_exceptions where status = 'open'")[0][0]
    queue = query(
        built, "select owner_team, priority_rank, priority_score from quality.exception_queue order by 1, 2"
    )
    assert len(queue) == open_count > 0
    by_team: dict[str, list[tuple[int, float]]] = {}
    for team, rank, score in queue:
        by_team.setdefault(team, []).append((rank, float(score)))
    for ranks in by_team.values():
        assert [r for r, _ in ranks] == list(range(1, len(ranks) + 1))
        assert [s for _, s in ranks] == sorted((s for _, s in ranks), reverse=True)
    assert query(
        built,
        "select count(*) from quality.inventory_exceptions where status = 'open' and priority_rank is null",
    ) == [(0,)]


def test_clusters_and_suggestions_say_why_and_what_to_do(built: str) -> None:
    clusters = query(
        built,
        "select owner_team, exceptions, likely_root_cause, summary, suggested_action from ai.exception_clusters",
    )
    assert (
        clusters
        and sum(c[1] for c in clusters)
        == query(built, "select count(*) from quality.inventory_exceptions where status = 'open'")[0][0]
    )
    for _, _, cause, summary, action in clusters:
        assert cause and summary.endswith(".") and "likely" in summary and action.endswith(".")
    [(channel, sku, current, suggested, share, reason)] = query(
        built,
        "select channel_id, sku, current_channel_safety_stock, suggested_channel_safety_stock,"
        " suggested_max_share_pct, reason from ai.policy_suggestions",
    )
    assert (channel, sku, current) == ("WEB", "A", 2) and suggested > current and float(share) == 50
    assert "suggestion" in reason
    # suggested, never applied: the channel policy is what the ERP says
    assert query(
        built, "select channel_safety_stock from staging.stg_erp__channel_policy where channel_id = 'WEB'"
    ) == [(2,)]


def test_the_same_files_give_the_same_anomalies_and_rewrite_nothing(built: str) -> None:
    before = query(built, "select anomaly_id, xmin::text from ai.anomalies order by 1")
    build_all(built)
    assert query(built, "select anomaly_id, xmin::text from ai.anomalies order by 1") == before
    with psycopg.connect(built) as conn:
        assert conn.execute("select count(*) from ai.anomalies where status = 'open'").fetchone() == (3,)


def test_the_bi_role_reads_the_ai_tables_and_the_queue(built: str) -> None:
    with psycopg.connect(built) as conn:
        # the quality schema's usage is dbt's grant (its next build); the queue's own grant is ours
        assert conn.execute(
            "select has_table_privilege('omni_bi', 'quality.exception_queue', 'select')"
        ).fetchone() == (True,)
        conn.execute("set role omni_bi")
        for table in ("ai.anomalies", "ai.exception_clusters", "ai.policy_suggestions"):
            assert conn.execute(f"select count(*) from {table}").fetchone()[0] > 0, table


def test_a_failing_detector_never_stops_the_exceptions(built: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decision support: when detection fails on its data, the asset says so and the anomalies of
    the previous run stay, so the exceptions and the quality gate downstream still run."""
    import dagster as dg

    from orchestration.defs.ai.assets import anomalies
    from orchestration.defs.resources import Warehouse

    monkeypatch.setenv("OMNI_DATABASE_URL", built)
    monkeypatch.delenv("OMNI_RESOLVED_DATABASE_URL", raising=False)
    before = query(built, "select anomaly_id, status from ai.anomalies order by 1")
    with psycopg.connect(built, autocommit=True) as conn:
        conn.execute("alter table staging.stg_channel__orders rename column order_qty to order_qty_renamed")
    try:
        result = dg.materialize([anomalies], resources={"warehouse": Warehouse()})
    finally:
        with psycopg.connect(built, autocommit=True) as conn:
            conn.execute(
                "alter table staging.stg_channel__orders rename column order_qty_renamed to order_qty"
            )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    assert "order_qty" in event.materialization.metadata["error"].value
    assert query(built, "select anomaly_id, status from ai.anomalies order by 1") == before
