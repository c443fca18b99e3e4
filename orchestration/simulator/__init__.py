"""The retailer simulator: a realistic, deterministic set of landing-zone feeds plus ground truth.

`simulate(SimulationConfig(...))` writes the feeds into the landing zone and the ground truth
(end-of-period inventory, fault manifest, run description) into the truth folder; see
docs/simulator.md.
"""

from orchestration.simulator.config import FAULT_GROUPS, FAULT_KINDS, SimulationConfig
from orchestration.simulator.manifest import TRUTH_AFFECTING
from orchestration.simulator.run import SimulationSummary, simulate
from orchestration.simulator.truth import MANIFEST_FILE, RUN_FILE, TRUTH_COLUMNS, TRUTH_FILE

__all__ = [
    "FAULT_GROUPS",
    "FAULT_KINDS",
    "MANIFEST_FILE",
    "RUN_FILE",
    "TRUTH_AFFECTING",
    "TRUTH_COLUMNS",
    "TRUTH_FILE",
    "SimulationConfig",
    "SimulationSummary",
    "simulate",
]
