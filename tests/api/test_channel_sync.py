"""Outbound channel sync on a small built world: each build's ats changes are written once per
change, atomically, and a publisher SIGKILLed between writing and recording loses and repeats nothing."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import ALL_ASSETS_JOB, defs
from orchestration.defs.channel_sync.assets import CHANNEL_FEED_KEY, channel_availability_feed
from orchestration.defs.ingestion.sensors import batch_run_request
from orchestration.defs.resources import Warehouse
from orchestration.lib.channel_publisher import channel_dir_name, publish_changes
from orchestration.lib.database import dbt_env
from orchestration.lib.dbt_runner import temporary_environment
from orchestration.lib.landing import scan
from tests.api.world import World
from tests.dbt.landing_files import MICRO_BATCHES, write
from tests.support.dbt import query

Row = tuple[str, str, int]  # channel_id, sku, ats


def mart(world: World) -> dict[tuple[str, str], int]:
    return {
        (c, s): a for c, s, a in query(world.url, "select channel_id, sku, ats from marts.atp_by_channel")
    }


def outbound_files(outbound: Path) -> dict[Path, list[dict]]:
    """Every published file (temporary names start with a dot and are not published) and its lines."""
    return {
        path: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted(outbound.glob("channel/*/availability_*.jsonl"))
    }


def lines_of(files: dict[Path, list[dict]]) -> list[Row]:
    return sorted(
        (line["channel_id"], line["sku"], line["ats"]) for lines in files.values() for line in lines
    )


def assert_each_change_published_once(world: World, outbound: Path) -> None:
    """Per channel x sku, the files in publication order change the figure every time, and end at the mart."""
    history: dict[tuple[str, str], list[int]] = {}
    batches = query(
        world.url, "select channel_id, file_name from meta.channel_publication_batches order by batch_id"
    )
    for channel_id, file_name in batches:
        path = outbound / "channel" / channel_dir_name(channel_id) / file_name
        for line in outbound_files(outbound)[path]:
            history.setdefault((line["channel_id"], line["sku"]), []).append(line["ats"])
    repeated = {
        key: figures
        for key, figures in history.items()
        if any(a == b for a, b in itertools.pairwise(figures))
    }
    assert not repeated, f"published twice: {repeated}"
    assert {key: figures[-1] for key, figures in history.items()} == mart(world)
    assert query(
        world.url, "select count(*) from meta.channel_publication_batches where status = 'pending'"
    ) == [(0,)]
    assert set(outbound_files(outbound)) == {outbound / "channel" / c / f for c, f in batches}


@pytest.fixture(scope="module")
def outbound(world: World) -> Path:
    return world.home / "outbound"


@pytest.fixture
def warehouse_env(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in world.env().items():
        if name.startswith("OMNI_"):
            monkeypatch.setenv(name, value)


def test_the_feed_runs_after_every_build_full_and_micro_batch(world: World) -> None:
    assert CHANNEL_FEED_KEY in defs.resolve_job_def(ALL_ASSETS_JOB).asset_layer.selected_asset_keys
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assert dg.AssetKey(["marts", "atp_by_channel"]) in graph.get(CHANNEL_FEED_KEY).parent_keys
    # allocation_accuracy reads the ledger: it runs after the feed
    assert CHANNEL_FEED_KEY in graph.get(dg.AssetKey(["ops", "allocation_accuracy"])).parent_keys
    # the landing-zone sensor's run for a till sale alone includes it
    write(world.landing, {"pos/sales/sales_probe.csv": MICRO_BATCHES[0]["pos/sales/sales_1005.csv"]})
    probe = [f for f in scan(world.landing) if f.relative.endswith("sales_probe.csv")]
    request = batch_run_request(probe, repository)
    (world.landing / probe[0].relative).unlink()
    assert CHANNEL_FEED_KEY in set(request.asset_selection or [])
    node = graph.get(CHANNEL_FEED_KEY)
    assert node.group_name == "availability" and node.owners == ["team:integration"]


def test_a_build_publishes_every_changed_ats_once_per_channel(
    world: World, outbound: Path, warehouse_env: None
) -> None:
    # first publication, by Dagster: every channel x sku
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [channel_availability_feed], resources={"warehouse": Warehouse()}, instance=instance
        )
    assert result.success
    first = outbound_files(outbound)
    assert {path.relative_to(outbound).as_posix() for path in first} == {
        f"channel/{c}/availability_20240501T100000Z.jsonl" for c in ("WEB", "PICK", "MKT")
    }
    assert lines_of(first) == sorted((c, s, a) for (c, s), a in mart(world).items())
    line = first[outbound / "channel/WEB/availability_20240501T100000Z.jsonl"][0]
    assert (
        set(line) == {"channel_id", "sku", "ats", "as_of", "published_at"}
        and line["as_of"] == "2024-05-01T10:00:00Z"
    )
    assert not list(outbound.glob("channel/*/.*"))  # no temporary file left

    # nothing changed: nothing published
    assert publish_changes(world.url, outbound).published == []
    assert outbound_files(outbound) == first

    # a micro-batch: a sale at S1/A and a marketplace order; only the changed ats go out
    before = mart(world)
    world.deliver_and_build(MICRO_BATCHES[0])
    after = mart(world)
    changed = sorted((c, s, a) for (c, s), a in after.items() if before.get((c, s)) != a)
    assert changed  # the batch does change availability
    report = publish_changes(world.url, outbound)
    new = {path: lines for path, lines in outbound_files(outbound).items() if path not in first}
    assert lines_of(new) == changed and report.changes == len(changed)
    assert {path.name for path in new} == {"availability_20240501T100500Z.jsonl"}
    assert_each_change_published_once(world, outbound)

    # the allocation-accuracy mart reads what the feed published
    world.build()
    web = query(
        world.url,
        "select feed_published_units, feed_accurate_listings, ats_units from ops.allocation_accuracy where channel_id = 'WEB'",
    )
    assert web == [(after[("WEB", "A")] + after[("WEB", "B")], 2, after[("WEB", "A")] + after[("WEB", "B")])]


@pytest.mark.parametrize(("phase", "batch"), [("recorded", 1), ("written", 2)])
def test_a_publisher_killed_before_marking_its_batches_publishes_each_change_once_on_rerun(
    world: World, outbound: Path, phase: str, batch: int
) -> None:
    publish_changes(world.url, outbound)  # whatever earlier tests left: published
    before_files = outbound_files(outbound)
    before = mart(world)
    world.deliver_and_build(MICRO_BATCHES[batch])
    changed = sorted((c, s, a) for (c, s), a in mart(world).items() if before.get((c, s)) != a)
    assert changed

    env = world.env(OMNI_OUTBOUND_DIR=str(outbound))
    driver = subprocess.Popen(
        [sys.executable, "-m", "tests.api.publisher_driver", phase],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert driver.stdout is not None and driver.stdout.readline().startswith("ready")
    finally:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    assert driver.returncode == -signal.SIGKILL
    pending = query(
        world.url, "select count(*) from meta.channel_publication_batches where status = 'pending'"
    )[0][0]
    assert pending >= 1
    written = {path: lines for path, lines in outbound_files(outbound).items() if path not in before_files}
    assert lines_of(written) == (changed if phase == "written" else [])
    inodes = {path: path.stat().st_ino for path in written}

    report = publish_changes(world.url, outbound)
    assert report.published == []  # the changes were claimed by the killed run's batches
    settled = report.recovered_present if phase == "written" else report.recovered_rewritten
    assert len(settled) == pending
    new = {path: lines for path, lines in outbound_files(outbound).items() if path not in before_files}
    assert lines_of(new) == changed
    assert all(path.stat().st_ino == inode for path, inode in inodes.items())  # found in place, not rewritten
    assert not list(outbound.glob("channel/*/.*"))
    assert_each_change_published_once(world, outbound)


def test_channel_ids_are_folder_names_not_paths() -> None:
    assert channel_dir_name("WEB") == "WEB"
    for hostile in ("..", ".", "../etc", "a/b", ".hidden", "x\x00y"):
        name = channel_dir_name(hostile)
        assert "/" not in name and "\x00" not in name and not name.startswith(".")


def test_a_micro_batch_run_publishes_the_change_its_file_brought(world: World, outbound: Path) -> None:
    """The landing-zone sensor's run for one landed file, as Dagster executes it, down to the feed:
    the file's ingestion, the dbt models below it and the channel feed (the run's other steps,
    quality and finance, do not lead to the feed)."""
    publish_changes(world.url, outbound)  # whatever earlier tests left: published
    before, before_files = mart(world), outbound_files(outbound)
    shipment = "wms/movements/movements_0300.csv"
    write(
        world.landing,
        {
            shipment: """
event_id,location_id,sku,movement_type,qty,status,reference,event_ts
m9,D1,A,shipment,-7,available,SO9,2024-05-02T03:00:00
"""
        },
    )
    landed = [f for f in scan(world.landing) if f.relative == shipment]
    repository = defs.get_repository_def()
    in_the_run = set(batch_run_request(landed, repository).asset_selection or [])
    assert CHANNEL_FEED_KEY in in_the_run
    to_the_feed = (
        dg.AssetSelection.assets(*in_the_run) & dg.AssetSelection.assets(CHANNEL_FEED_KEY).upstream()
    )
    job = dg.define_asset_job("micro_batch_to_the_feed", selection=to_the_feed.without_checks())
    resolved = dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(
        "micro_batch_to_the_feed"
    )
    env = {**world.env(), "OMNI_RESOLVED_DATABASE_URL": world.url, **dbt_env(world.url)}
    with (
        temporary_environment({k: v for k, v in env.items() if k.startswith("OMNI_")}),
        dg.instance_for_test() as instance,
    ):
        result = resolved.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success
    changed = sorted((c, s, a) for (c, s), a in mart(world).items() if before.get((c, s)) != a)
    assert ("MKT", "A") in {(c, s) for c, s, _ in changed}  # D1 serves the marketplace
    new = {path: lines for path, lines in outbound_files(outbound).items() if path not in before_files}
    assert lines_of(new) == changed
    assert {path.name for path in new} == {"availability_20240502T030000Z.jsonl"}
    assert_each_change_published_once(world, outbound)
