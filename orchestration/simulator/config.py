"""What a simulation run is asked to produce: sizes, seed, period, faults and output folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from orchestration.lib.settings import load_settings

DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)
DEFAULT_CHANNELS = ("web", "mkt_a", "mkt_b", "mkt_c")
# A fault kind selected without --faults is injected at this rate.
DEFAULT_FAULT_RATE = 0.01

# Every fault the simulator can inject; `--fault-kinds` takes these names (or a group below).
FAULT_KINDS: tuple[str, ...] = (
    "late_feed",
    "stale_feed",
    "duplicate_file",
    "duplicate_event_id",
    "out_of_order_snapshot",
    "malformed_missing_column",
    "malformed_bad_number",
    "malformed_truncated_gzip",
    "malformed_wrong_encoding",
    "unknown_sku",
    "unknown_location",
    "count_variance",
    "negative_on_hand",
    "reservation_never_released",
    "transfer_overdue",
    "listing_above_ats",
)
# Faults that AI-assisted operations find (docs/ai.md), not the quality rules: they need a history
# of several days, so `--faults RATE` alone does not inject them; `--fault-kinds anomalies` (or
# `all`) does.
ANOMALY_FAULT_KINDS: tuple[str, ...] = ("recurring_count_variance", "demand_spike", "movement_anomaly")
KNOWN_FAULT_KINDS = FAULT_KINDS + ANOMALY_FAULT_KINDS
FAULT_GROUPS: dict[str, tuple[str, ...]] = {
    "malformed_file": tuple(kind for kind in FAULT_KINDS if kind.startswith("malformed_")),
    "anomalies": ANOMALY_FAULT_KINDS,
    "all": KNOWN_FAULT_KINDS,
}

# Ids are fixed-width: S0001..S8999 (S9xxx is kept for unknown-location faults), DC01..DC89.
MAX_STORES = 8999
MAX_DCS = 89  # DC90..DC99 are kept for unknown-location faults
MAX_SKUS = 899_999  # SKU900000 and above are kept for unknown-sku faults


def resolve_fault_kinds(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Expand groups and check names; keeps FAULT_KINDS order so runs do not depend on flag order."""
    wanted: set[str] = set()
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in FAULT_GROUPS:
            wanted.update(FAULT_GROUPS[name])
        elif name in KNOWN_FAULT_KINDS:
            wanted.add(name)
        else:
            known = ", ".join((*KNOWN_FAULT_KINDS, *FAULT_GROUPS))
            raise ValueError(f"unknown fault kind {name!r}; known: {known}")
    return tuple(kind for kind in KNOWN_FAULT_KINDS if kind in wanted)


def _default_home() -> Path:
    return load_settings().home


@dataclass(frozen=True)
class SimulationConfig:
    stores: int = 300
    dcs: int = 2
    skus: int = 2000
    days: int = 1
    seed: int = 0
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    # Share of candidate files/locations/records that get each enabled fault (0 = no faults).
    fault_rate: float = 0.0
    # Enabled fault kinds; empty with fault_rate > 0 means all kinds.
    fault_kinds: tuple[str, ...] = ()
    start: datetime = DEFAULT_START
    pos_snapshot_minutes: int = 1440
    landing_dir: Path = field(default_factory=lambda: load_settings().landing_dir)
    truth_dir: Path = field(default_factory=lambda: _default_home() / "simulator")
    quiet: bool = False
    # Write files from a background thread (compression overlaps generation); same bytes either way.
    background_writes: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.stores <= MAX_STORES:
            raise ValueError(f"--stores must be between 1 and {MAX_STORES}")
        if not 1 <= self.dcs <= MAX_DCS:
            raise ValueError(f"--dcs must be between 1 and {MAX_DCS}")
        if not 10 <= self.skus <= MAX_SKUS:
            raise ValueError(f"--skus must be between 10 and {MAX_SKUS}")
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ValueError("--faults must be a rate between 0 and 1")
        if self.pos_snapshot_minutes < 30 or self.pos_snapshot_minutes % 30:
            raise ValueError("--pos-snapshot-minutes must be a positive multiple of 30")
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise ValueError("--channels must list distinct channel ids")
        for channel in self.channels:
            if not channel.replace("_", "").isalnum():
                raise ValueError(f"channel id {channel!r} must be letters, digits and underscores")
        if self.start.tzinfo is None:
            object.__setattr__(self, "start", self.start.replace(tzinfo=UTC))
        start = self.start.astimezone(UTC)
        if start.second or start.microsecond or start.minute % 30:
            raise ValueError("--start must fall on a whole half hour (e.g. 2026-11-01T00:00:00Z)")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "fault_kinds", resolve_fault_kinds(self.fault_kinds))
        object.__setattr__(self, "landing_dir", Path(self.landing_dir))
        object.__setattr__(self, "truth_dir", Path(self.truth_dir))

    @property
    def active_fault_kinds(self) -> tuple[str, ...]:
        """Kinds actually injected: none without a rate or a kind, all when only a rate is given."""
        if self.fault_kinds:
            return self.fault_kinds
        return FAULT_KINDS if self.fault_rate > 0 else ()

    @property
    def effective_fault_rate(self) -> float:
        if not self.active_fault_kinds:
            return 0.0
        return self.fault_rate if self.fault_rate > 0 else DEFAULT_FAULT_RATE
