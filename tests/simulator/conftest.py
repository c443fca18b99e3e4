"""Fixtures of the simulator tests: small simulations (tests/support/simulations.py), one per session."""

from __future__ import annotations

import pytest

from tests.support.simulations import Run, run_simulation


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
