"""Robust scores: how far a value stands from a baseline, in units of the baseline's spread.

The median and the median absolute deviation (statsmodels.robust.scale.mad, scaled to a normal's
standard deviation) rather than the mean and standard deviation: one earlier spike or a few
zero days must not hide the next one.
"""

from __future__ import annotations

import numpy as np
from statsmodels.robust.scale import mad

# Spread never taken below this (units): a series of identical values has MAD 0.
MIN_SPREAD = 1.0


def robust_z(
    value: float, baseline: np.ndarray, min_spread: float = MIN_SPREAD, method: str = "mad"
) -> tuple[float, float]:
    """(z, centre) of `value` against `baseline`: median and MAD, or (method "std", the benchmark's
    baseline method) mean and standard deviation."""
    if baseline.size == 0:
        return 0.0, 0.0
    if method == "std":
        centre, spread = float(np.mean(baseline)), float(np.std(baseline))
    else:
        centre, spread = float(np.median(baseline)), float(mad(baseline))
    return (value - centre) / max(spread, min_spread), centre


def score_of(z: float, threshold: float) -> float:
    """A 0-1 score: 0.5 at the threshold, approaching 1 far beyond it."""
    return round(float(1.0 - 0.5 ** max(z / threshold, 0.0)), 4)
