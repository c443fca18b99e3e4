"""The click command: defaults from the settings, flags, clear errors, immutable landing files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestration.simulator import MANIFEST_FILE, RUN_FILE, TRUTH_FILE
from orchestration.simulator.cli import simulate

SMALL = ["--stores", "3", "--dcs", "1", "--skus", "40", "--seed", "9"]


def test_defaults_come_from_omni_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("OMNI_LANDING_DIR", raising=False)
    result = CliRunner().invoke(simulate, SMALL)
    assert result.exit_code == 0, result.output
    assert "files" in result.output and "ground truth" in result.output
    assert (tmp_path / "home/landing/erp/items/items_20261101T0000Z.csv").is_file()
    truth_dir = tmp_path / "home/simulator"
    assert {p.name for p in truth_dir.iterdir()} == {TRUTH_FILE, MANIFEST_FILE, RUN_FILE}
    run = json.loads((truth_dir / RUN_FILE).read_text())
    assert run["config"]["stores"] == 3 and run["as_of"] == "2026-11-02T00:00:00Z"


def test_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNI_LANDING_DIR", str(tmp_path / "env-landing"))
    args = [
        *SMALL,
        "--days",
        "1",
        "--channels",
        "web,mkt_z",
        "--start",
        "2027-03-01T12:30:00Z",
        "--pos-snapshot-minutes",
        "720",
        "--faults",
        "0.1",
        "--fault-kinds",
        "duplicate_file,stale_feed",
        "--truth-dir",
        str(tmp_path / "truth"),
        "--quiet",
    ]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 0, result.output
    assert result.output == ""
    landing = tmp_path / "env-landing"
    assert sorted(p.name for p in (landing / "channel").iterdir()) == ["mkt_z", "web"]
    counts = sorted(p.name for p in (landing / "pos/inventory").glob("pos_inventory_S0001_*"))
    assert counts[0] == "pos_inventory_S0001_20270301T1230Z.csv.gz"
    kinds = {
        json.loads(line)["kind"] for line in (tmp_path / "truth" / MANIFEST_FILE).read_text().splitlines()
    }
    assert kinds == {"duplicate_file", "stale_feed"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fault-kinds", "gremlins"], "unknown fault kind 'gremlins'"),
        (["--pos-snapshot-minutes", "45"], "multiple of 30"),
        (["--start", "2026-11-01T00:10:00Z"], "whole half hour"),
        (["--start", "yesterday"], "not an ISO 8601 timestamp"),
    ],
)
def test_bad_arguments_are_refused_clearly(tmp_path: Path, extra: list[str], message: str) -> None:
    args = [
        *SMALL,
        "--landing-dir",
        str(tmp_path / "landing"),
        "--truth-dir",
        str(tmp_path / "truth"),
        *extra,
    ]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "landing").exists()


def test_truth_may_not_sit_in_the_landing_zone(tmp_path: Path) -> None:
    args = [
        *SMALL,
        "--landing-dir",
        str(tmp_path / "landing"),
        "--truth-dir",
        str(tmp_path / "landing/truth"),
    ]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 2
    assert "outside the landing zone" in result.output


def test_landing_files_are_never_overwritten(tmp_path: Path) -> None:
    base = [
        *SMALL,
        "--landing-dir",
        str(tmp_path / "landing"),
        "--truth-dir",
        str(tmp_path / "truth"),
        "--quiet",
    ]
    assert CliRunner().invoke(simulate, base).exit_code == 0
    items = tmp_path / "landing/erp/items/items_20261101T0000Z.csv"
    before = items.read_bytes()
    # The same run again is harmless: identical bytes, nothing rewritten.
    assert CliRunner().invoke(simulate, base).exit_code == 0
    files = sorted(p for p in (tmp_path / "landing").rglob("*") if p.is_file())
    # Another seed for an overlapping period would change delivered files: refused before writing.
    other = [*base[: base.index("--seed")], "--seed", "10", *base[base.index("--seed") + 2 :]]
    result = CliRunner().invoke(simulate, [*other, "--start", "2026-11-01T12:00:00Z"])
    assert result.exit_code == 1
    assert "already holds a simulation of 2026-11-01T00:00:00Z..2026-11-02T00:00:00Z" in result.output
    assert items.read_bytes() == before
    assert sorted(p for p in (tmp_path / "landing").rglob("*") if p.is_file()) == files
    # Touching periods share the boundary's snapshot names: refused too; a later one is fine.
    assert CliRunner().invoke(simulate, [*other, "--start", "2026-11-02T00:00:00Z"]).exit_code == 1
    assert CliRunner().invoke(simulate, [*other, "--start", "2026-11-02T00:30:00Z"]).exit_code == 0


def test_a_file_conflict_stops_publishing(tmp_path: Path) -> None:
    """Defence in depth: even without the period record, an existing file is never replaced."""
    landing = tmp_path / "landing"
    item = landing / "erp/items/items_20261101T0000Z.csv"
    item.parent.mkdir(parents=True)
    item.write_text("not what the simulator would write\n")
    args = [*SMALL, "--landing-dir", str(landing), "--truth-dir", str(tmp_path / "truth"), "--quiet"]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 1
    assert "already exists with different content" in result.output
    assert item.read_text() == "not what the simulator would write\n"
    published = [p for p in landing.rglob("*") if p.is_file() and ".simulator" not in p.parts]
    assert published == [item]
