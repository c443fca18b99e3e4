"""How well ai.anomalies finds the simulator's injected anomalies (tests/ai, benchmarks/ai.py).

A fault of the manifest (fault_manifest.jsonl) is found when an open anomaly of its type has its
key: the location for RECURRING_COUNT_VARIANCE and MOVEMENT_ANOMALY, the channel and sku for
DEMAND_SPIKE. Every other open anomaly is a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from orchestration.lib.ai.schema import AI_SCHEMA

# simulator fault kind -> anomaly type
FAULT_ANOMALY_TYPES = {
    "recurring_count_variance": "RECURRING_COUNT_VARIANCE",
    "demand_spike": "DEMAND_SPIKE",
    "movement_anomaly": "MOVEMENT_ANOMALY",
}

Key = tuple[str | None, str | None, str | None]  # (location_id, channel_id, sku)


def fault_key(fault: dict) -> Key:
    if fault["kind"] == "demand_spike":
        return (None, fault["details"]["channel_id"], fault["sku"])
    return (fault["location_id"], None, None)


@dataclass
class TypeScore:
    injected: set[Key] = field(default_factory=set)
    found: set[Key] = field(default_factory=set)

    @property
    def true_positives(self) -> int:
        return len(self.injected & self.found)

    @property
    def false_positives(self) -> int:
        return len(self.found - self.injected)

    @property
    def precision(self) -> float:
        return self.true_positives / len(self.found) if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / len(self.injected) if self.injected else 1.0


def score_anomalies(url: str, faults: list[dict]) -> dict[str, TypeScore]:
    """Per anomaly type, the injected and the found keys."""
    scores = {t: TypeScore() for t in FAULT_ANOMALY_TYPES.values()}
    for fault in faults:
        if fault["kind"] in FAULT_ANOMALY_TYPES:
            scores[FAULT_ANOMALY_TYPES[fault["kind"]]].injected.add(fault_key(fault))
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"select anomaly_type, location_id, channel_id, sku from {AI_SCHEMA}.anomalies where status = 'open'"
        ).fetchall()
    for anomaly_type, location_id, channel_id, sku in rows:
        key = (None, channel_id, sku) if anomaly_type == "DEMAND_SPIKE" else (location_id, None, None)
        scores.setdefault(anomaly_type, TypeScore()).found.add(key)
    return scores
