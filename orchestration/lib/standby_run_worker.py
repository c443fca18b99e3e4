"""A Dagster run worker that loads the code location first and then waits for its run.

    python -m orchestration.lib.standby_run_worker [--preload MODULE ...]

Started by WarmRunLauncher (lib/warm_run_launcher.py). It imports Dagster's run command and the
`--preload` modules, and calls a preloaded module's `warm_up()` if it has one (ours imports Great
Expectations, parses the dbt project and returns the dbt project's files). Then it reads one line
from stdin: the serialized arguments of `dagster api execute_run`, and runs that command in this
process, as the command line would have. End of input (the launcher went away) ends it.

It replaces itself with a fresh `dagster api execute_run` instead when preloading failed (the
fresh command then fails the run with the code's error), or when the code may have changed since
it was loaded: a source file of a preloaded package, or a file `warm_up()` named, that differs
from what was loaded or was modified after loading began.

SIGINT (a run being terminated) is held from the start, as Dagster's run command holds it: a run
terminated before its worker started it is recorded as cancelled without running.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path

from dagster._cli import main as dagster_main  # what `dagster api execute_run` runs
from dagster._utils.interrupts import capture_interrupts, check_captured_interrupt

from orchestration.lib.warm_run_launcher import cold_command

Fingerprint = frozenset[tuple[str, int, int]]


def code_fingerprint(watched: Iterable[Path], roots: Sequence[Path]) -> Fingerprint:
    """(path, mtime, size) of the imported modules under `roots` and of the `watched` files."""
    paths = {Path(p).resolve() for p in watched}
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file:
            path = Path(file).resolve()
            if any(path.is_relative_to(root) for root in roots):
                paths.add(path)
    stamps = set()
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stamps.add((str(path), -1, -1))  # gone or not yet there: a change too
            continue
        stamps.add((str(path), stat.st_mtime_ns, stat.st_size))
    return frozenset(stamps)


def code_changed(loaded: Fingerprint, now: Fingerprint, loading_began_ns: int) -> bool:
    """Whether the code differs from what was loaded, or was written while it was being loaded."""
    return now != loaded or any(mtime >= loading_began_ns for _, mtime, _ in now)


def preload(modules: Sequence[str]) -> tuple[list[Path], list[Path]]:
    """Import `modules` and run their warm_up(): (files warm_up named, package folders to watch)."""
    watched: list[Path] = []
    roots: list[Path] = []
    for name in modules:
        module = importlib.import_module(name)
        package = sys.modules[name.partition(".")[0]]
        roots.append(Path(package.__file__ or module.__file__ or ".").resolve().parent)
        warm_up = getattr(module, "warm_up", None)
        if callable(warm_up):
            watched.extend(Path(p) for p in warm_up() or ())
    return watched, roots


def cancel_run(serialized_args: str) -> None:
    """Record the run as cancelled, without running it."""
    from dagster._core.instance import DagsterInstance
    from dagster._grpc.types import ExecuteRunArgs
    from dagster._serdes import deserialize_value

    args = deserialize_value(serialized_args, ExecuteRunArgs)
    # the run launcher always sends its instance's ref (the field is optional only in the gRPC type)
    assert args.instance_ref is not None, "ExecuteRunArgs without an instance ref"
    with DagsterInstance.from_ref(args.instance_ref) as instance:
        run = instance.get_run_by_id(args.run_id)
        if run is not None and not run.is_finished:
            instance.report_run_canceled(run, message="Terminated before its run worker started it.")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="standby_run_worker")
    parser.add_argument("--preload", action="append", default=[])
    args = parser.parse_args(argv)

    with capture_interrupts():
        loading_began_ns = time.time_ns()
        try:
            watched, roots = preload(args.preload)
            loaded: Fingerprint | None = code_fingerprint(watched, roots)
        except (Exception, SystemExit):  # the run, once it comes, starts fresh and fails with this
            traceback.print_exc()
            watched, roots, loaded = [], [], None

        line = sys.stdin.readline().strip()
        if not line:
            return
        if check_captured_interrupt():  # terminated before it started
            cancel_run(line)
            return
        if loaded is None or code_changed(loaded, code_fingerprint(watched, roots), loading_began_ns):
            command = cold_command(line)
            os.execv(command[0], command)
        sys.argv = ["dagster", "api", "execute_run", line]
        dagster_main()


if __name__ == "__main__":
    main()
