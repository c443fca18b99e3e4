"""The fault manifest: one JSON line per injected fault.

Fields: kind, file (relative to the landing root), location_id, sku, affects_truth, details.
affects_truth: a correct pipeline's inventory_position differs from the ground truth for this
location (and sku; a null sku means every sku of the location), or has a row the truth lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TRUTH_AFFECTING = frozenset({"stale_feed", "negative_on_hand", "unknown_sku", "unknown_location"})


@dataclass
class FaultRecord:
    kind: str
    file: str | None
    location_id: str | None
    sku: str | None
    details: dict[str, Any]
    # Faults inside event rows: the file is the one that finally delivered (stream key, slot end).
    event_ref: tuple[str, int] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "location_id": self.location_id,
            "sku": self.sku,
            "affects_truth": self.kind in TRUTH_AFFECTING,
            "details": self.details,
        }


class Manifest:
    def __init__(self, loc_ids: np.ndarray, sku_ids: np.ndarray) -> None:
        self._loc_ids, self._sku_ids = loc_ids, sku_ids
        self.records: list[FaultRecord] = []

    def add(
        self,
        kind: str,
        file: str | None,
        loc: int | str | None,
        sku: int | str | None,
        details: dict[str, Any],
        *,
        event_ref: tuple[str, int] | None = None,
    ) -> None:
        """Record a fault; locations and skus may be given as indices or as ids."""
        if isinstance(loc, (int, np.integer)):
            loc = str(self._loc_ids[int(loc)])
        if isinstance(sku, (int, np.integer)):
            sku = str(self._sku_ids[int(sku)])
        self.records.append(FaultRecord(kind, file, loc, sku, details, event_ref))

    def resolve_files(self, delivered: dict[tuple[str, int], str]) -> None:
        for record in self.records:
            if record.event_ref is not None:
                record.file = delivered.get(record.event_ref)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for record in self.records:
                out.write(json.dumps(record.as_json(), ensure_ascii=False, separators=(",", ":")) + "\n")
        tmp.replace(path)

    def __len__(self) -> int:
        return len(self.records)
