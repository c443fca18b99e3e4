"""Runs whose process is gone: killed by a signal, out of memory, or a machine restart.

Every run records its worker, "pid:start time" (the start time tells the worker from a later
process that got the same number), in a file of the instance's folder named after the run
(WORKERS_FOLDER), not as a run tag: the tag was bookkeeping that every row of the UI's Runs list
showed. A run left STARTED by a worker that no longer exists would stay so for ever and hold its
place in the queue; `omni-inventory run` and `dev` end such runs as failed (or canceled, when a
cancel was under way) before they start.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import psutil

WORKERS_FOLDER = "run_workers"  # in the instance's root directory ($DAGSTER_HOME)
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def worker_tag(pid: int | None = None) -> str:
    """The tag value for process `pid` (this process when None)."""
    process = psutil.Process(pid or os.getpid())
    return f"{process.pid}:{process.create_time()}"


def _worker_file(instance: dg.DagsterInstance, run_id: str) -> Path:
    return Path(instance.root_directory) / WORKERS_FOLDER / run_id


def record_worker(instance: dg.DagsterInstance, run_id: str, tag: str) -> None:
    """Record `tag` (worker_tag's form) as the worker of run `run_id`."""
    path = _worker_file(instance, run_id)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(tag)


def recorded_worker(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """The worker recorded for the run, or None (not a run of ours, or already ended)."""
    try:
        return _worker_file(instance, run_id).read_text()
    except FileNotFoundError:
        return None


def forget_worker(instance: dg.DagsterInstance, run_id: str) -> None:
    _worker_file(instance, run_id).unlink(missing_ok=True)


def running_worker(tag: str) -> psutil.Process | None:
    """The process a worker tag names, if it still runs; None otherwise."""
    pid, _, started = tag.partition(":")
    try:
        process = psutil.Process(int(pid))
        if abs(process.create_time() - float(started)) > 0.01:
            return None
    except (ValueError, psutil.Error):
        return None
    return process


def end_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished runs whose worker is gone as failed (canceled if canceling); their ids."""
    ended = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED)):
        tag = recorded_worker(instance, run.run_id)
        if tag is None or running_worker(tag) is not None:
            continue  # not ours to judge, or still at work
        message = f"Its worker process ({tag.partition(':')[0]}) is gone: it was killed or crashed."
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=message)
        else:
            instance.report_run_failed(run, message=message)
        forget_worker(instance, run.run_id)
        ended.append(run.run_id)
    return ended
