"""Independent random streams per concern, all derived from the one seed.

Separate streams keep a run stable under change: turning faults on, for instance, draws from the
fault stream only, so the demand and operations of the world stay the same as without faults.
"""

from __future__ import annotations

import numpy as np

STREAMS = ("masters", "demand", "stock", "operations", "orders", "returns", "faults")


class RandomStreams:
    def __init__(self, seed: int) -> None:
        children = np.random.SeedSequence(seed).spawn(len(STREAMS))
        self._generators = {
            name: np.random.Generator(np.random.PCG64(child))
            for name, child in zip(STREAMS, children, strict=True)
        }

    def __getitem__(self, name: str) -> np.random.Generator:
        return self._generators[name]

    @property
    def masters(self) -> np.random.Generator:
        return self._generators["masters"]

    @property
    def demand(self) -> np.random.Generator:
        return self._generators["demand"]

    @property
    def stock(self) -> np.random.Generator:
        return self._generators["stock"]

    @property
    def operations(self) -> np.random.Generator:
        return self._generators["operations"]

    @property
    def orders(self) -> np.random.Generator:
        return self._generators["orders"]

    @property
    def returns(self) -> np.random.Generator:
        return self._generators["returns"]

    @property
    def faults(self) -> np.random.Generator:
        return self._generators["faults"]
