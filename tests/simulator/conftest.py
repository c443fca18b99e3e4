"""Small simulations shared by the simulator tests (each takes a second or two)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(scope="session")
def clean_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """No faults; counts every 10 hours over 2 days, so the period ends 4 hours after the last
    count and on-hand has to be rolled forward through sales and movements."""
    return run_simulation(
        tmp_path_factory.mktemp("clean"), stores=12, skus=200, days=2, pos_snapshot_minutes=600
    )


@pytest.fixture(scope="session")
def daily_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """No faults, the default daily count cadence."""
    return run_simulation(tmp_path_factory.mktemp("daily"), stores=8, skus=120, seed=3)


@pytest.fixture(scope="session")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every fault kind at a 5 % rate."""
    return run_simulation(tmp_path_factory.mktemp("faults"), stores=20, skus=300, seed=11, fault_rate=0.05)
