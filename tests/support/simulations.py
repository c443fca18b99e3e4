"""Small simulations shared by the simulator tests (each takes a second or two)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestration.simulator import MANIFEST_FILE, TRUTH_FILE, SimulationConfig, SimulationSummary, simulate


@dataclass
class Run:
    config: SimulationConfig
    summary: SimulationSummary

    @property
    def landing(self) -> Path:
        return self.config.landing_dir

    @property
    def truth_file(self) -> Path:
        return self.config.truth_dir / TRUTH_FILE

    @property
    def manifest(self) -> list[dict[str, Any]]:
        text = (self.config.truth_dir / MANIFEST_FILE).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


def run_simulation(root: Path, **overrides: Any) -> Run:
    settings: dict[str, Any] = {"stores": 10, "dcs": 2, "skus": 150, "days": 1, "seed": 7, "quiet": True}
    settings.update(overrides)
    config = SimulationConfig(landing_dir=root / "landing", truth_dir=root / "truth", **settings)
    return Run(config, simulate(config))
