"""Ground truth: what really is where at the end of the simulated period.

`inventory_truth.csv.gz` has one row per known (location_id, sku), sorted by both, with the
columns of marts.inventory_position that the world fixes (CONTRACT section 3):
on_hand, damaged, quarantined (quarantine + on_hold), returned, available (on_hand - damaged -
quarantined - returned) are physical; reserved, committed, in_transit_in, in_transit_out, on_order
and safety_stock are what the OMS/ERP hold at the end, by the contract's rules; as_of is the end.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from orchestration.simulator.clock import iso
from orchestration.simulator.engine import SimContext
from orchestration.simulator.replenishment import Replenishment
from orchestration.simulator.writers import GzipStream

TRUTH_FILE = "inventory_truth.csv.gz"
MANIFEST_FILE = "fault_manifest.jsonl"
RUN_FILE = "run.json"
# The stock quantities of marts.inventory_position (docs/contract.md section 3), in its column order.
QUANTITY_COLUMNS = (
    "on_hand",
    "damaged",
    "quarantined",
    "returned",
    "available",
    "reserved",
    "committed",
    "in_transit_in",
    "in_transit_out",
    "on_order",
    "safety_stock",
)
TRUTH_COLUMNS = ("location_id", "sku", *QUANTITY_COLUMNS, "as_of")
LOCATIONS_PER_BATCH = 16


def write_truth(ctx: SimContext, replenishment: Replenishment, path: Path) -> int:
    """Stream the truth file; returns its row count."""
    world, stock = ctx.world, ctx.stock
    inbound, outbound = replenishment.in_transit()
    as_of = iso(ctx.clock.end)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    gz = GzipStream()
    rows = 0
    with open(tmp, "wb") as out:
        out.write(gz.compress((",".join(TRUTH_COLUMNS) + "\n").encode()))
        skus = pa.array(world.sku_ids)
        for first in range(0, world.n_locations, LOCATIONS_PER_BATCH):
            locs = np.arange(first, min(first + LOCATIONS_PER_BATCH, world.n_locations))
            n = len(locs) * world.n_skus

            def flat(array: np.ndarray, locs: np.ndarray = locs) -> pa.Array:
                return pa.array(np.asarray(array[locs], dtype=np.int64).ravel())

            damaged = stock.damaged[locs].astype(np.int64)
            quarantined = stock.quarantine[locs].astype(np.int64) + stock.on_hold[locs]
            returned = stock.returned[locs].astype(np.int64)
            available = stock.available[locs].astype(np.int64)
            on_hand = available + damaged + quarantined + returned
            table = pa.table(
                {
                    "location_id": pa.array(np.repeat(world.loc_ids[locs], world.n_skus)),
                    "sku": pa.concat_arrays([skus] * len(locs)),
                    "on_hand": pa.array(on_hand.ravel()),
                    "damaged": pa.array(damaged.ravel()),
                    "quarantined": pa.array(quarantined.ravel()),
                    "returned": pa.array(returned.ravel()),
                    "available": pa.array(available.ravel()),
                    "reserved": flat(stock.reserved),
                    "committed": flat(stock.committed),
                    "in_transit_in": flat(inbound),
                    "in_transit_out": flat(outbound),
                    "on_order": flat(stock.on_order),
                    "safety_stock": flat(ctx.policy.safety_stock),
                    "as_of": pa.repeat(as_of, n),
                }
            )
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, pacsv.WriteOptions(include_header=False, quoting_style="none"))
            out.write(gz.compress(buf.getvalue()))
            rows += n
        out.write(gz.flush())
    tmp.replace(path)
    return rows


def write_run_file(path: Path, content: dict[str, Any]) -> None:
    """Run description (deterministic: no wall-clock times, no absolute paths)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
