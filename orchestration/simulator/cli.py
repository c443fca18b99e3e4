"""`omni-inventory simulate`: the click command (registered into the CLI group by orchestration/cli.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from orchestration.lib.settings import load_settings
from orchestration.simulator.config import (
    DEFAULT_CHANNELS,
    DEFAULT_FAULT_RATE,
    DEFAULT_START,
    FAULT_GROUPS,
    KNOWN_FAULT_KINDS,
    SimulationConfig,
    resolve_fault_kinds,
)
from orchestration.simulator.run import simulate as run_simulation


def _parse_start(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime:
    if not value:
        return DEFAULT_START
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO 8601 timestamp: {value}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_list(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@click.command("simulate")
@click.option("--stores", type=click.IntRange(1), default=300, show_default=True, help="Number of stores.")
@click.option(
    "--dcs", type=click.IntRange(1), default=2, show_default=True, help="Number of distribution centres."
)
@click.option("--skus", type=click.IntRange(10), default=2000, show_default=True, help="Number of skus.")
@click.option("--days", type=click.IntRange(1), default=1, show_default=True, help="Simulated days.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (same seed, same bytes).")
@click.option(
    "--channels",
    callback=_parse_list,
    default=",".join(DEFAULT_CHANNELS),
    show_default=True,
    help="Comma-separated channel ids (web*, store*/bopis* or marketplace).",
)
@click.option(
    "--faults",
    "fault_rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Fault rate: share of candidate files/locations/records given each enabled fault.",
)
@click.option(
    "--fault-kinds",
    callback=_parse_list,
    default="",
    help=f"Comma-separated fault kinds (default: all but the anomalies when --faults > 0; rate "
    f"{DEFAULT_FAULT_RATE} when only kinds are given). Kinds: {', '.join(KNOWN_FAULT_KINDS)}; groups: "
    f"{', '.join(FAULT_GROUPS)}.",
)
@click.option(
    "--start",
    callback=_parse_start,
    default=None,
    help="Start of the simulated period, ISO 8601 on a half hour [default: 2026-11-01T00:00:00Z].",
)
@click.option(
    "--pos-snapshot-minutes",
    type=click.IntRange(30),
    default=1440,
    show_default=True,
    help="Minutes between full store (and DC) count snapshots; a multiple of 30.",
)
@click.option(
    "--landing-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Landing zone root [default: $OMNI_LANDING_DIR, else $OMNI_HOME/landing].",
)
@click.option(
    "--truth-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Ground truth folder, outside the landing zone [default: $OMNI_HOME/simulator].",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no summary.")
def simulate(
    stores: int,
    dcs: int,
    skus: int,
    days: int,
    seed: int,
    channels: tuple[str, ...],
    fault_rate: float,
    fault_kinds: tuple[str, ...],
    start: datetime,
    pos_snapshot_minutes: int,
    landing_dir: Path | None,
    truth_dir: Path | None,
    quiet: bool,
) -> None:
    """Write a simulated retailer's feeds into the landing zone, and the ground truth beside it."""
    settings = load_settings()
    landing = (landing_dir or settings.landing_dir).resolve()
    truth = (truth_dir or settings.home / "simulator").resolve()
    if truth == landing or landing in truth.parents:
        raise click.BadParameter(
            "the truth folder must be outside the landing zone", param_hint="--truth-dir"
        )
    try:
        config = SimulationConfig(
            stores=stores,
            dcs=dcs,
            skus=skus,
            days=days,
            seed=seed,
            channels=channels,
            fault_rate=fault_rate,
            fault_kinds=resolve_fault_kinds(fault_kinds),
            start=start,
            pos_snapshot_minutes=pos_snapshot_minutes,
            landing_dir=landing,
            truth_dir=truth,
            quiet=quiet,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        summary = run_simulation(config)
    except FileExistsError as exc:
        raise click.ClickException(str(exc)) from exc
    if not quiet:
        click.echo(summary.describe())
