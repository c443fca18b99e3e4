#!/usr/bin/env python3
"""Set-up entry point on a fresh machine with only Python 3.11+ and git.

    python3 bootstrap.py demo   # venv, install, embedded PostgreSQL, demo data, pipeline, Dagster UI
    python3 bootstrap.py test   # venv, install, lint, the full test suite

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import venv
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".omni-installed"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(*command: str | os.PathLike[str], env: dict[str, str] | None = None) -> None:
    result = subprocess.run([str(c) for c in command], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f"bootstrap: `{' '.join(map(str, command))}` failed with exit code {result.returncode}")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 -- runs under whatever python3 the machine has
        sys.exit(f"bootstrap: Python 3.11 or newer is required (this is {sys.version.split()[0]})")
    if not (BIN / "python").exists():
        step(f"creating virtualenv {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text() != wanted:
        step("installing the platform and its development tools (first time: a few minutes)")
        run(BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        run(BIN / "python", "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        STAMP.write_text(wanted)
    step("preparing build artifacts (dbt manifest)")
    run(BIN / "omni-inventory", "prepare")


def demo(args: argparse.Namespace) -> None:
    ensure_environment()
    cli = BIN / "omni-inventory"
    step("starting the database")
    run(cli, "db", "url")
    landing = Path(
        os.environ.get("OMNI_LANDING_DIR") or Path(os.environ.get("OMNI_HOME") or ".omni") / "landing"
    )
    if not (landing.exists() and any(landing.rglob("*.*"))):
        step(f"simulating a retailer into {landing}")
        run(
            cli,
            "simulate",
            "--stores",
            str(args.stores),
            "--dcs",
            "2",
            "--skus",
            str(args.skus),
            "--days",
            "1",
            "--seed",
            str(args.seed),
            "--faults",
            "0.01",
            # A simulated day that ends now, so that latency and ages read as real minutes.
            "--start",
            demo_start(),
        )
    step("running the pipeline once (omni-inventory run)")
    run(cli, "run")
    if args.no_ui:
        print("\nDone. Start the Dagster UI with: .venv/bin/omni-inventory dev  (http://127.0.0.1:3000)")
        return
    step("starting the dashboard on http://127.0.0.1:8050 (docs/dashboard.md)")
    # A child of this process group: the Ctrl-C that stops the Dagster UI stops it too.
    subprocess.Popen([str(cli), "dashboard", "--port", "8050"])
    step("starting the Dagster UI on http://127.0.0.1:3000 (webserver + daemon; Ctrl-C stops it)")
    print("  Dagster UI: http://127.0.0.1:3000\n  dashboard:  http://127.0.0.1:8050", flush=True)
    os.execv(cli, [str(cli), "dev"])


def demo_start() -> str:
    """The start of a one-day simulated period that ends at the last half hour before now (UTC)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    end = now.replace(minute=0 if now.minute < 30 else 30)
    return (end - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test(args: argparse.Namespace) -> None:
    ensure_environment()
    step("ruff")
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    step("mypy")
    # the package's types, as [tool.mypy] in pyproject.toml configures the check
    run(BIN / "mypy", "orchestration")
    step("sqlfluff")
    # the dbt project's SQL style, as .sqlfluff configures it (jinja templater: no database needed)
    run(BIN / "sqlfluff", "lint", "dbt_project", "--processes", "2")
    step("dg check defs")
    # the code location loads the way Dagster's own tooling loads it, with no database
    with tempfile.TemporaryDirectory() as dagster_home:
        run(
            BIN / "dg",
            "check",
            "defs",
            env={**os.environ, "DAGSTER_HOME": dagster_home, "VIRTUAL_ENV": str(VENV)},
        )
    step("pytest")
    # One worker per core (2 on the reference machine), each with its own embedded PostgreSQL; a
    # module's tests stay on one worker so that its scenario is built once.
    parallel = [] if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args.pytest_args) else [
        "-n", "auto", "--dist", "loadscope"
    ]  # fmt: skip
    run(BIN / "pytest", *parallel, *args.pytest_args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser(
        "demo", help="install, simulate a retailer, run the pipeline, open the UI"
    )
    demo_parser.add_argument("--stores", type=int, default=20)
    demo_parser.add_argument("--skus", type=int, default=500)
    demo_parser.add_argument("--seed", type=int, default=7)
    demo_parser.add_argument("--no-ui", action="store_true", help="stop after the pipeline run")
    demo_parser.set_defaults(handler=demo)
    test_parser = commands.add_parser("test", help="install, lint and run the full test suite")
    test_parser.set_defaults(handler=test)
    args, extra = parser.parse_known_args()
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra  # anything after `test` goes to pytest, e.g. -k loader -x
    args.handler(args)


if __name__ == "__main__":
    main()
