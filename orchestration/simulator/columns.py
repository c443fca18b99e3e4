"""A growable set of equal-length numpy columns (records kept column-wise, appended in blocks)."""

from __future__ import annotations

from typing import Any

import numpy as np


class ColumnStore:
    def __init__(self, **dtypes: Any) -> None:
        self._data = {name: np.empty(256, dtype=dtype) for name, dtype in dtypes.items()}
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def append(self, **arrays: Any) -> slice:
        """Append a block (arrays or scalars broadcast to the block length); returns its slice."""
        length = max((len(v) for v in arrays.values() if np.ndim(v)), default=1)
        if set(arrays) != set(self._data):
            raise KeyError(f"expected columns {sorted(self._data)}, got {sorted(arrays)}")
        needed = self.n + length
        capacity = len(next(iter(self._data.values())))
        if needed > capacity:
            new_capacity = max(needed, capacity * 2)
            for name, column in self._data.items():
                grown = np.empty(new_capacity, dtype=column.dtype)
                grown[: self.n] = column[: self.n]
                self._data[name] = grown
        block = slice(self.n, needed)
        for name, values in arrays.items():
            self._data[name][block] = values
        self.n = needed
        return block

    def __getitem__(self, name: str) -> np.ndarray:
        """A live view of one column (writes go through to the store)."""
        return self._data[name][: self.n]
