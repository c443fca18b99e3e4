"""Runs whose process is gone: killed by a signal, out of memory, or a machine restart.

Every run records its worker as the tag WORKER_PID_TAG, "pid:start time" (the start time tells
the worker from a later process that got the same number). A run left STARTED by a worker that
no longer exists would stay so for ever and hold its place in the queue; `omni-inventory run` and
`dev` end such runs as failed (or canceled, when a cancel was under way) before they start.
"""

from __future__ import annotations

import os

import dagster as dg
import psutil

WORKER_PID_TAG = "omni/run_worker_pid"
UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def worker_tag(pid: int | None = None) -> str:
    """The tag value for process `pid` (this process when None)."""
    process = psutil.Process(pid or os.getpid())
    return f"{process.pid}:{process.create_time()}"


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
        tag = run.tags.get(WORKER_PID_TAG)
        if tag is None or running_worker(tag) is not None:
            continue  # not ours to judge, or still at work
        message = f"Its worker process ({tag.partition(':')[0]}) is gone: it was killed or crashed."
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message=message)
        else:
            instance.report_run_failed(run, message=message)
        ended.append(run.run_id)
    return ended
