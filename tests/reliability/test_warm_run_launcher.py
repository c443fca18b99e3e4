"""The run launcher of dagster.yaml runs each run in a standby worker that loaded the code first.

Real Dagster: an instance on the embedded PostgreSQL configured like the product's (the launcher
and its `preload`), a code server for a small code location, runs launched through the instance.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest
import yaml
from dagster._core.test_utils import create_run_for_test, poll_for_event, poll_for_finished_run
from dagster._core.workspace.context import WorkspaceProcessContext, WorkspaceRequestContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from orchestration.lib.database import dagster_storage_url, ensure_dagster_schema
from orchestration.lib.orphaned_runs import recorded_worker
from orchestration.lib.settings import DAGSTER_INSTANCE_TEMPLATE
from orchestration.lib.warm_run_launcher import STANDBY_MODULE, WarmRunLauncher

CODE = """
import os
import sys
import time
from pathlib import Path

import dagster as dg

FOLDER = Path(os.environ["WARM_TEST_FOLDER"])
WARMED = False


def warm_up():
    global WARMED
    WARMED = True
    with (FOLDER / "warmed.txt").open("a") as out:
        out.write(f"{os.getpid()}\\n")
    return [FOLDER / "watched.txt"]


@dg.op
def record_worker() -> None:
    warmed = sys.modules["warm_test_code"].WARMED  # set only where the standby preloaded it
    with (FOLDER / "runs.txt").open("a") as out:
        out.write(f"{os.getpid()} {warmed}\\n")


@dg.op
def wait_a_long_time() -> None:
    time.sleep(300)


@dg.job(executor_def=dg.in_process_executor)
def record() -> None:
    record_worker()


@dg.job(executor_def=dg.in_process_executor)
def wait() -> None:
    wait_a_long_time()


defs = dg.Definitions(jobs=[record, wait])
"""


@pytest.fixture
def preload() -> list[str]:
    """The modules the launcher's standby preloads (dagster.yaml's preload)."""
    return ["warm_test_code"]


@pytest.fixture
def instance(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preload: list[str]
) -> Iterator[dg.DagsterInstance]:
    (tmp_path / "warm_test_code.py").write_text(textwrap.dedent(CODE))
    monkeypatch.chdir(tmp_path)  # the standby imports the code location from its working directory
    monkeypatch.setenv("WARM_TEST_FOLDER", str(tmp_path))
    ensure_dagster_schema(db_url)
    config = yaml.safe_load(DAGSTER_INSTANCE_TEMPLATE.read_text())
    assert config["run_launcher"]["class"] == WarmRunLauncher.__name__  # the product's choice
    monkeypatch.setenv("OMNI_DAGSTER_STORAGE_URL", dagster_storage_url(db_url))
    config["run_launcher"]["config"]["preload"] = preload
    config.pop("run_coordinator")  # launched directly here, without a daemon
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        yield instance
    # the standby is stopped; the cancelled run's worker may still be exiting
    wait_until(lambda: not standbys(), "no standby worker left once the instance is disposed", timeout=30)


LAUNCHED = f"[{WarmRunLauncher.__name__}] Run "


def standbys() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children():
        try:
            if STANDBY_MODULE in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone meanwhile
            continue
    return found


@pytest.fixture
def workspace(instance: dg.DagsterInstance, tmp_path: Path) -> Iterator[WorkspaceRequestContext]:
    """A workspace of the test's code location, loaded like the product's (workspace.yaml)."""
    workspace_file = tmp_path / "workspace.yaml"
    location = {
        "module_name": "warm_test_code",
        "location_name": "warm_test",
        "working_directory": str(tmp_path),
    }
    workspace_file.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    with WorkspaceProcessContext(
        instance, WorkspaceFileTarget(paths=[str(workspace_file)])
    ) as process_context:
        yield process_context.create_request_context()


def launch(instance: dg.DagsterInstance, workspace: WorkspaceRequestContext, job: str) -> str:
    repository = workspace.get_code_location("warm_test").get_repository("__repository__")
    remote_job = repository.get_full_job(job)
    run = create_run_for_test(
        instance,
        job_name=job,
        remote_job_origin=remote_job.get_remote_origin(),
        job_code_origin=remote_job.get_python_origin(),
        asset_graph=repository.asset_graph,
    )
    instance.launch_run(run.run_id, workspace)
    return run.run_id


def finished(instance: dg.DagsterInstance, run_id: str) -> tuple[dg.DagsterRunStatus, str]:
    """The run's final status and how the launcher started it."""
    run = poll_for_finished_run(instance, run_id, timeout=120)
    launched = [
        entry.message
        for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if entry.message.startswith(LAUNCHED)
    ]
    return run.status, launched[0].removeprefix(LAUNCHED)


def wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_runs_execute_in_warm_standby_workers_and_fresh_ones_when_the_code_changed(
    instance: dg.DagsterInstance, workspace: WorkspaceRequestContext, tmp_path: Path
) -> None:
    runs = tmp_path / "runs.txt"
    hows = []
    for _ in range(3):
        status, how = finished(instance, launch(instance, workspace, "record"))
        assert status == dg.DagsterRunStatus.SUCCESS
        hows.append(how)
    assert hows[0].startswith("started in a new process"), "the first run starts cold"
    assert all(how.startswith("handed to a standby run worker (pid ") for how in hows[1:])
    workers = [line.split() for line in runs.read_text().splitlines()]
    assert [warmed for _, warmed in workers] == ["False", "True", "True"], "preloaded workers"
    assert len({pid for pid, _ in workers}) == 3, "a worker serves one run"

    # a deploy while the standby waits: the run goes to a fresh interpreter, not the old code
    wait_until(lambda: len((tmp_path / "warmed.txt").read_text().splitlines()) == 3, "the 3rd standby")
    (tmp_path / "watched.txt").write_text("new code")
    assert finished(instance, launch(instance, workspace, "record"))[0] == dg.DagsterRunStatus.SUCCESS
    assert runs.read_text().splitlines()[-1].endswith(" False")

    # a standby that died: the run starts cold
    for standby in standbys():
        standby.kill()
        standby.wait()
    status, how = finished(instance, launch(instance, workspace, "record"))
    assert status == dg.DagsterRunStatus.SUCCESS
    assert how.startswith("started in a new process")

    # termination reaches the worker, and Dagster records the run as cancelled
    waiting = launch(instance, workspace, "wait")
    poll_for_event(instance, waiting, event_type="STEP_START", message=None, timeout=60)
    assert instance.run_launcher.terminate(waiting)
    assert finished(instance, waiting)[0] == dg.DagsterRunStatus.CANCELED
    assert not instance.run_launcher.terminate(waiting), "a finished run is not terminated again"

    # terminated at once, before or as its step starts: the run ends, it is not left cancelling
    # (cancelled; failed when the signal lands while Dagster starts the step)
    early = launch(instance, workspace, "wait")
    assert instance.run_launcher.terminate(early)
    assert finished(instance, early)[0] in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)

    # a worker killed mid-run: the launcher ends the run instead of leaving it started
    killed = launch(instance, workspace, "wait")
    poll_for_event(instance, killed, event_type="STEP_START", message=None, timeout=60)
    run = instance.get_run_by_id(killed)
    assert run is not None and not [k for k in run.tags if k.startswith("omni/")], (
        "no bookkeeping in the tags"
    )
    pid = int((recorded_worker(instance, killed) or "").split(":")[0])
    psutil.Process(pid).kill()
    assert finished(instance, killed)[0] == dg.DagsterRunStatus.FAILURE
    assert recorded_worker(instance, killed) is None, "the ended run's worker record is removed"


@pytest.mark.parametrize("preload", [["warm_test_code", "no_such_module"]])
def test_a_standby_that_cannot_preload_runs_its_run_in_a_fresh_interpreter(
    instance: dg.DagsterInstance, workspace: WorkspaceRequestContext, tmp_path: Path
) -> None:
    finished(instance, launch(instance, workspace, "record"))  # cold: the first of this launcher
    status, how = finished(instance, launch(instance, workspace, "record"))
    assert status == dg.DagsterRunStatus.SUCCESS  # the run's own code location imports fine
    assert how.startswith("handed to a standby run worker")
    assert (tmp_path / "runs.txt").read_text().splitlines()[1].endswith(" False"), "a fresh interpreter"
