"""Each open anomaly is also an open warning exception ANOMALY_<type> (docs/contract.md section 6),
so it reaches its owner team's queue like any other finding."""

from __future__ import annotations

import psycopg

from orchestration.lib.ai.schema import AI_SCHEMA
from orchestration.lib.quality.schema import relation_exists
from orchestration.lib.quality.settings import QualitySettings

ANOMALY_TYPES = ("RECURRING_COUNT_VARIANCE", "DEMAND_SPIKE", "MOVEMENT_ANOMALY")


def anomaly_findings(conn: psycopg.Connection, settings: QualitySettings) -> None:
    if not relation_exists(conn, f"{AI_SCHEMA}.anomalies"):
        return
    conn.execute(
        "insert into current_findings"
        " select 'ANOMALY_' || a.anomaly_type, s.severity, 'ai', null, a.location_id, a.sku, a.anomaly_id,"
        "  jsonb_build_object('anomaly_id', a.anomaly_id, 'channel_id', a.channel_id, 'explanation', a.explanation,"
        "   'score', a.score, 'observed', a.observed, 'expected', a.expected, 'model', a.model,"
        "   'value_at_risk', a.value_at_risk,"
        "   'window_start', a.window_start, 'window_end', a.window_end, 'detected_by', 'ai')"
        f" from {AI_SCHEMA}.anomalies a"
        " join (select unnest(%s::text[]) as anomaly_type, unnest(%s::text[]) as severity) s using (anomaly_type)"
        " where a.status = 'open'",
        (list(ANOMALY_TYPES), [settings.severity_of(f"ANOMALY_{t}") for t in ANOMALY_TYPES]),
    )
