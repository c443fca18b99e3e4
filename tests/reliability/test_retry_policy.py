"""Steps that talk to the warehouse are retried with backoff when the database goes away.

The outage scenario itself (PostgreSQL stopped mid-run, restarted, the retry completes) is not
in the suite yet; this checks the policy is attached where a database failure can hit.
"""

from __future__ import annotations

import dagster as dg

from orchestration.defs.retry import warehouse_retry_policy


def test_ingestion_and_dbt_steps_retry_with_exponential_backoff() -> None:
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    ops = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.path[0] == "raw" or key.path[0] in ("staging", "intermediate", "marts"):
            assets_def = node.assets_def
            ops[assets_def.op.name] = assets_def.op.retry_policy
    assert {"ingest_pos", "ingest_erp", "raw__unrouted_files", "omni_dbt"} <= set(ops)
    expected = warehouse_retry_policy()
    assert expected.backoff == dg.Backoff.EXPONENTIAL and expected.max_retries >= 2
    assert {name: policy for name, policy in ops.items() if policy != expected} == {}
