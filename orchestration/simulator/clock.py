"""Simulated time: 5-minute ticks, slot boundaries, ISO 8601 formatting.

Times are integer seconds since the Unix epoch (UTC). Events fall strictly inside a tick and
snapshots on tick boundaries, so "events after a snapshot" is never ambiguous: a snapshot at T
includes every event with event_ts < T.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TICK_SECONDS = 300
DAY_SECONDS = 86_400
TICKS_PER_DAY = DAY_SECONDS // TICK_SECONDS
# Within a tick: scheduled lifecycle steps happen in [1, PHASE_B) seconds, new demand in
# [PHASE_B, PHASE_C), store bookings (receipts, inspections) in [PHASE_C, TICK_SECONDS).
PHASE_B = 120
PHASE_C = 290


def to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def iso(seconds: int) -> str:
    return to_datetime(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(seconds: int) -> str:
    """Compact timestamp for file names and ids: 20261101T0030Z."""
    return to_datetime(seconds).strftime("%Y%m%dT%H%MZ")


def day_stamp(seconds: int) -> str:
    return to_datetime(seconds).strftime("%Y%m%d")


def iso_date(seconds: int) -> str:
    return to_datetime(seconds).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Clock:
    start: int
    days: int

    @classmethod
    def of(cls, start: datetime, days: int) -> Clock:
        return cls(int(start.timestamp()), days)

    @property
    def end(self) -> int:
        return self.start + self.days * DAY_SECONDS

    @property
    def n_ticks(self) -> int:
        return self.days * TICKS_PER_DAY

    def tick_start(self, tick: int) -> int:
        return self.start + tick * TICK_SECONDS

    def tick_of(self, seconds: int) -> int:
        return (seconds - self.start) // TICK_SECONDS

    def is_boundary(self, seconds: int, every_minutes: int) -> bool:
        return (seconds - self.start) % (every_minutes * 60) == 0

    def boundaries(self, every_minutes: int, *, include_start: bool = True) -> list[int]:
        step = every_minutes * 60
        first = self.start if include_start else self.start + step
        return list(range(first, self.end + 1, step))

    def minute_of_day(self, seconds: int) -> int:
        return (seconds % DAY_SECONDS) // 60

    def weekday(self, seconds: int) -> int:
        return to_datetime(seconds).weekday()


class TimestampFormatter:
    """Vectorised epoch seconds -> 'YYYY-MM-DDTHH:MM:SSZ' (an order of magnitude faster than strftime)."""

    def __init__(self, clock: Clock, margin_days: int = 60) -> None:
        self._first_day = clock.start // DAY_SECONDS - margin_days
        n_days = clock.days + 2 * margin_days + 1
        base = datetime.fromtimestamp(self._first_day * DAY_SECONDS, tz=UTC)
        self._dates = pa.array([(base + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(n_days)])
        self._times = pa.array(
            [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(DAY_SECONDS)]
        )

    def format(self, seconds: np.ndarray) -> pa.Array:
        """Format an int array; negative values (no timestamp) become nulls."""
        seconds = np.asarray(seconds, dtype=np.int64)
        missing = seconds < 0
        safe = np.where(missing, self._first_day * DAY_SECONDS, seconds)
        day_index = safe // DAY_SECONDS - self._first_day
        if len(day_index) and (day_index.min() < 0 or day_index.max() >= len(self._dates)):
            # Far from the simulated period (e.g. a 30-day reservation hold on a long run).
            return pa.array([None if m else iso(int(s)) for s, m in zip(seconds, missing, strict=True)])
        dates = self._dates.take(pa.array(day_index))
        times = self._times.take(pa.array(safe % DAY_SECONDS))
        joined = pc.binary_join_element_wise(dates, times, "T")
        if missing.any():
            joined = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), joined)
        return joined
