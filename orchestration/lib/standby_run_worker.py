"""A Dagster run worker that loads the code location first and then waits for its run.

    python -m orchestration.lib.standby_run_worker [--preload MODULE ...]

Started by WarmRunLauncher (lib/warm_run_launcher.py). It imports Dagster's run command and the
`--preload` modules, and calls a preloaded module's `warm_up()` if it has one (ours parses the dbt
project and returns the files that parse read). Then it reads one line from stdin: the serialized
arguments of `dagster api execute_run`, and runs that command in this process, as the command
line would have. It replaces itself with a fresh `dagster api execute_run` instead when the code
changed while it waited (a source file of a preloaded package, or a file `warm_up()` named) or
when preloading failed (the fresh command then fails the run with the code's error). End of input
(the launcher went away) ends it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path

from orchestration.lib.warm_run_launcher import cold_command

Fingerprint = frozenset[tuple[str, int, int]]


def code_fingerprint(watched: Iterable[Path], roots: Iterable[Path]) -> Fingerprint:
    """(path, mtime, size) of the imported modules under `roots` and of the `watched` files."""
    roots = tuple(roots)
    paths = set(watched)
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if file and any(Path(file).is_relative_to(root) for root in roots):
            paths.add(Path(file))
    stamps = set()
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            stamps.add((str(path), -1, -1))  # gone or not yet there: a change too
            continue
        stamps.add((str(path), stat.st_mtime_ns, stat.st_size))
    return frozenset(stamps)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="standby_run_worker")
    parser.add_argument("--preload", action="append", default=[])
    args = parser.parse_args(argv)

    from dagster._cli import main as dagster_main  # what `dagster api execute_run` runs

    watched: list[Path] = []
    roots: list[Path] = []
    try:
        for name in args.preload:
            module = importlib.import_module(name)
            package = sys.modules[name.partition(".")[0]]
            roots.append(Path(package.__file__ or module.__file__ or ".").resolve().parent)
            warm_up = getattr(module, "warm_up", None)
            if callable(warm_up):
                watched.extend(Path(p) for p in warm_up() or ())
        loaded = code_fingerprint(watched, roots)
    except Exception:  # the run, once it comes, starts fresh and fails with this error
        traceback.print_exc()
        loaded = None

    line = sys.stdin.readline().strip()
    if not line:
        return
    if loaded is None or code_fingerprint(watched, roots) != loaded:
        command = cold_command(line)
        os.execv(command[0], command)
    sys.argv = ["dagster", "api", "execute_run", line]
    dagster_main()


if __name__ == "__main__":
    main()
