"""Event streams: which feed, how often a file is cut, its format, and the rows waiting for it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestration.lib.feeds import Feed, get_feed
from orchestration.simulator.clock import stamp
from orchestration.simulator.writers import extension


def registry_feed(source: str, name: str) -> Feed:
    feed = get_feed(source, name)
    if feed is None:
        raise KeyError(f"feed {source}/{name} is not in the registry")
    return feed


@dataclass(frozen=True)
class EventStream:
    """One event feed's file series; channel order feeds have one stream per channel."""

    feed: Feed
    slot_minutes: int
    fmt: str
    file_prefix: str
    id_prefix: str
    channel_id: str | None = None

    @property
    def key(self) -> str:
        if self.channel_id:
            return f"{self.feed.source}/{self.channel_id}/{self.feed.name}"
        return self.feed.feed_id

    @property
    def folder(self) -> str:
        """Folder below the landing root."""
        if self.channel_id:
            return f"{self.feed.source}/{self.channel_id}/{self.feed.name}"
        return self.feed.feed_id

    @property
    def slot_seconds(self) -> int:
        return self.slot_minutes * 60

    def file_name(self, slot_end: int, suffix: str = "") -> str:
        # Named after the end of the slot: the file holds events before that instant.
        return f"{self.file_prefix}_{stamp(slot_end)}{suffix}{extension(self.fmt)}"

    def event_ids(self, slot_end: int, first: int, n: int) -> list[str]:
        prefix = f"{self.id_prefix}-{stamp(slot_end)}-"
        return [f"{prefix}{i:06d}" for i in range(first, first + n)]

    def slot_end_of(self, ts: int, start: int) -> int:
        """End of the slot an event at `ts` belongs to."""
        return start + ((ts - start) // self.slot_seconds + 1) * self.slot_seconds


def event_streams(channel_ids: list[str]) -> list[EventStream]:
    streams = [
        EventStream(registry_feed("pos", "sales"), 30, "csv.gz", "pos_sales", "PS"),
        EventStream(registry_feed("wms", "movements"), 15, "csv", "wms_movements", "WM"),
        EventStream(registry_feed("oms", "reservations"), 5, "jsonl", "oms_reservations", "RV"),
        EventStream(registry_feed("oms", "returns"), 15, "jsonl", "oms_returns", "RT"),
    ]
    orders = registry_feed("channel", "orders")
    for channel_id in channel_ids:
        streams.append(
            EventStream(orders, 15, "jsonl", f"{channel_id}_orders", channel_id.upper(), channel_id)
        )
    return streams


class EventBuffer:
    """Rows of one stream waiting for the end of their slot.

    Values stay compact until written: locations and skus as indices, timestamps as epoch
    seconds (-1 = no timestamp), text as Python strings.
    """

    def __init__(self, stream: EventStream) -> None:
        self.stream = stream
        self._chunks: list[dict[str, np.ndarray]] = []
        self._rows: dict[str, list[Any]] = defaultdict(list)

    def extend(self, **columns: np.ndarray) -> None:
        if len(next(iter(columns.values()))):
            self._chunks.append(columns)

    def append(self, **values: Any) -> None:
        for name, value in values.items():
            self._rows[name].append(value)

    def __len__(self) -> int:
        rows = len(next(iter(self._rows.values()))) if self._rows else 0
        return rows + sum(len(next(iter(c.values()))) for c in self._chunks)

    def take(self) -> dict[str, np.ndarray]:
        """All waiting rows, sorted by event time (stable), and empty the buffer."""
        parts: list[dict[str, np.ndarray]] = list(self._chunks)
        if self._rows:
            parts.append({name: _as_array(values) for name, values in self._rows.items()})
        self._chunks, self._rows = [], defaultdict(list)
        if not parts:
            return {}
        names = list(parts[0])
        merged = {name: np.concatenate([p[name] for p in parts]) for name in names}
        order = np.argsort(merged["event_ts"], kind="stable")
        return {name: values[order] for name, values in merged.items()}


def _as_array(values: list[Any]) -> np.ndarray:
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    return np.asarray(values, dtype=object)
