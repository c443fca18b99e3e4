"""Keeps two different simulations from mixing their files in one landing zone.

Landing files are immutable. A run records its settings and period in `<landing>/.simulator/`
(a dot folder: loaders skip it) before writing, and refuses to start when an earlier run with
other settings covered an overlapping period. Re-running the same command is fine: it rewrites
nothing (identical bytes are left in place).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchestration.simulator.clock import iso, stamp

GUARD_DIR = ".simulator"


class LandingConflict(FileExistsError):
    """The landing zone already holds another simulation of an overlapping period."""


def claim_period(landing: Path, start: int, end: int, settings: dict[str, Any]) -> None:
    folder = landing / GUARD_DIR
    record = {"start": iso(start), "end": iso(end), "settings": settings}
    if folder.is_dir():
        for path in sorted(folder.glob("run_*.json")):
            other = json.loads(path.read_text(encoding="utf-8"))
            # Closed intervals: the end instant's snapshots share names with a start's.
            overlaps = other["start"] <= record["end"] and record["start"] <= other["end"]
            if overlaps and other["settings"] != settings:
                raise LandingConflict(
                    f"{landing} already holds a simulation of {other['start']}..{other['end']} with other "
                    f"settings ({path.name}); landing files are immutable: use an empty landing zone or a "
                    "--start after that period's end"
                )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"run_{stamp(start)}_{stamp(end)}.json"
    tmp = folder / f".{target.name}.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(target)
