"""Dagster run launcher whose run workers have imported the code location before their run comes.

Dagster's default launcher asks the code server to start a fresh Python process per run, which
then imports Dagster, dbt and the code location and parses the dbt project: about 7 s on two
cores, a quarter of a micro-batch's latency. This launcher (dagster.yaml `run_launcher`) keeps one
standby worker (`python -m orchestration.lib.standby_run_worker`) that has done all that and
waits; a run is handed to it over its stdin, and a new standby starts for the next run. The run
then executes exactly as under `dagster api execute_run` (the same command, in the same
environment as the daemon's), with the same events, logs, retries and termination.

- The first run after the daemon starts runs cold, as under the default launcher, while the
  first standby warms up.
- A standby that finds the project's code changed since it imported it (a deploy) runs the
  command in a fresh interpreter instead, so a run never executes old code.
- A standby that could not import the code location runs the command in a fresh interpreter,
  where the run fails with the import error as under the default launcher; a standby that died
  is replaced, and the run starts cold.
- Terminating a run sends its worker SIGINT, which Dagster turns into a cancelled run (a standby
  still warming up keeps the signal for when the run starts).
- A worker that exits without ending its run (killed, out of memory) has the run marked failed,
  or cancelled if it was being cancelled, by the launcher that started it.

The launcher runs in the process that launches runs (the daemon, with the queued run
coordinator), so this module imports nothing beyond Dagster and psutil.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Self

import dagster._check as check
import psutil
from dagster._core.launcher.base import LaunchRunContext, RunLauncher
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, serialize_value
from dagster._serdes.config_class import ConfigurableClassData

from orchestration.lib.orphaned_runs import forget_worker, record_worker, recorded_worker, running_worker

STANDBY_MODULE = "orchestration.lib.standby_run_worker"


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    """Launches each run in a standby worker process that has already loaded the code location.

    Config: `preload`, the modules the standby imports (see lib/standby_run_worker.py).
    """

    def __init__(self, preload: Sequence[str] = (), inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        self._preload = list(preload)
        self._standby: subprocess.Popen[bytes] | None = None
        self._standby_started = 0.0
        self._lock = threading.Lock()  # the daemon may launch from several threads
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        from dagster import Array, Field

        return {"preload": Field(Array(str), is_required=False, default_value=[])}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> Self:
        return cls(inst_data=inst_data, **config_value)

    def standby_command(self) -> list[str]:
        command = [sys.executable, "-m", STANDBY_MODULE]
        for module in self._preload:
            command += ["--preload", module]
        return command

    def _start_standby(self) -> None:
        self._standby = subprocess.Popen(self.standby_command(), stdin=subprocess.PIPE)
        self._standby_started = time.monotonic()

    def _take_standby(self) -> tuple[subprocess.Popen[bytes] | None, float]:
        """The standby, if one is alive, and how long it has had to warm up; a new one starts.

        None on this process's first run: that run starts cold, while the first standby warms up
        for the next one (two warm-ups at once on two cores would delay the run more).
        """
        standby, age = self._standby, time.monotonic() - self._standby_started
        if standby is not None and standby.poll() is not None:
            standby = None
        self._start_standby()
        return standby, age

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = check.not_none(run.job_code_origin, "the run has no code origin to execute")
        args = serialize_value(
            ExecuteRunArgs(job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref())
        )
        with self._lock:
            standby, age = self._take_standby()
            worker = None
            if standby is not None and standby.stdin is not None:
                # tagged first, so that a terminate arriving meanwhile finds the worker
                self._tag_worker(run.run_id, standby)
                try:
                    standby.stdin.write(args.encode() + b"\n")
                    standby.stdin.close()
                    worker = standby
                except OSError:  # it died between the check and the hand-over
                    worker = None
            if worker is not None:
                how = f"handed to a standby run worker (pid {worker.pid}, started {age:.1f} s earlier)"
            else:
                worker = subprocess.Popen(cold_command(args))
                self._tag_worker(run.run_id, worker)
                how = f"started in a new process (pid {worker.pid}): no standby run worker was ready"
        threading.Thread(
            target=self._watch, args=(worker, run.run_id), name=f"run worker {worker.pid}", daemon=True
        ).start()
        self._instance.report_engine_event(f"Run {how}.", run, cls=self.__class__)

    def _tag_worker(self, run_id: str, worker: subprocess.Popen[bytes]) -> None:
        try:
            started = psutil.Process(worker.pid).create_time()
        except psutil.Error:  # already gone: terminate will find no worker
            started = 0.0
        record_worker(self._instance, run_id, f"{worker.pid}:{started}")

    def _watch(self, worker: subprocess.Popen[bytes], run_id: str) -> None:
        """Collect the worker when it exits (no zombie); a run it left unfinished is ended.

        A worker that dies without recording the end of its run (killed, out of memory) would
        otherwise leave the run started, or cancelling, for good, holding a slot of the queue.
        """
        code = worker.wait()
        forget_worker(self._instance, run_id)
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return
        message = f"Its run worker (pid {worker.pid}) exited with code {code} before the run ended."
        if run.status == DagsterRunStatus.CANCELING:
            self._instance.report_run_canceled(run, message=message)
        else:
            self._instance.report_run_failed(run, message=message)

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if not run or run.is_finished:
            return False
        worker = running_worker(recorded_worker(self._instance, run_id) or "")
        if worker is None:
            self._instance.report_engine_event(
                "Cannot terminate the run: its run worker process is not running.", run, cls=self.__class__
            )
            return False
        self._instance.report_run_canceling(run)
        try:
            worker.send_signal(signal.SIGINT)  # Dagster's run worker turns it into a cancelled run
        except psutil.NoSuchProcess:  # it exited meanwhile without ending the run
            run = self._instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                self._instance.report_run_canceled(run, message="Its run worker had already exited.")
        return True

    def dispose(self) -> None:
        with self._lock:
            if self._standby is not None and self._standby.poll() is None:
                self._standby.terminate()
                try:
                    self._standby.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._standby.kill()
            self._standby = None


def cold_command(serialized_args: str) -> list[str]:
    """`dagster api execute_run` in a new interpreter, the one the launcher runs in."""
    return [sys.executable, "-m", "dagster", "api", "execute_run", serialized_args]
