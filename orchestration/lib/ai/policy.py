"""ai.policy_suggestions: a temporary reservation policy for each open DEMAND_SPIKE (docs/ai.md).

Suggested, never applied: the channel policy stays what erp/channel_policy says until a planner
changes it there. The suggestion holds back the spike's excess (observed - expected units) as
channel safety stock and lowers the channel's share of the network by 10 points (at least 10 %),
so that the spike cannot take the stock other channels promised.
"""

from __future__ import annotations

import psycopg

from orchestration.lib.ai.schema import AI_SCHEMA, ensure_ai_schema
from orchestration.lib.quality.schema import relation_exists

SHARE_STEP_PCT = 10
MIN_SHARE_PCT = 10

SUGGESTIONS_SQL = f"""
insert into {AI_SCHEMA}.policy_suggestions
select
    a.channel_id,
    a.sku,
    p.channel_safety_stock,
    coalesce(p.channel_safety_stock, 0) + ceil(a.observed - a.expected)::integer,
    p.max_share_pct,
    greatest(coalesce(p.max_share_pct, 100) - {SHARE_STEP_PCT}, {MIN_SHARE_PCT}),
    format(
        '%s / %s: %s units ordered against a usual %s a day; hold back %s more units for the channel and '
        'cap its share at %s %% until the spike passes (a suggestion: apply it in erp/channel_policy).',
        a.channel_id, a.sku, round(a.observed), round(a.expected),
        ceil(a.observed - a.expected)::integer,
        greatest(coalesce(p.max_share_pct, 100) - {SHARE_STEP_PCT}, {MIN_SHARE_PCT})
    ),
    a.anomaly_id,
    'spike_excess_holdback'
from {AI_SCHEMA}.anomalies as a
left join {{policies}} as p on p.channel_id = a.channel_id
where a.anomaly_type = 'DEMAND_SPIKE' and a.status = 'open'
"""


def rebuild_policy_suggestions(url: str) -> int:
    with psycopg.connect(url) as conn:
        ensure_ai_schema(conn)
        policies = (
            "staging.stg_erp__channel_policy"
            if relation_exists(conn, "staging.stg_erp__channel_policy")
            else "(select null::text as channel_id, null::integer as channel_safety_stock,"
            " null::numeric as max_share_pct where false)"
        )
        with conn.transaction():
            conn.execute(f"truncate {AI_SCHEMA}.policy_suggestions")
            conn.execute(SUGGESTIONS_SQL.format(policies=policies))
            counted = conn.execute(f"select count(*) from {AI_SCHEMA}.policy_suggestions").fetchone()
            return counted[0] if counted else 0
