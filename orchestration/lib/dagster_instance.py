"""DAGSTER_HOME under $OMNI_HOME, with the repository's dagster.yaml."""

from __future__ import annotations

import os
import shutil

from orchestration.lib.settings import PROJECT_DIR, Settings


def prepare_dagster_home(settings: Settings) -> str:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    # Copied aside, then renamed over: another process starting a run from the same home (a second
    # `omni-inventory run`, a run worker of `dev`) reads the old file or the new one, never a
    # half-written one (an empty dagster.yaml silently falls back to Dagster's default storage).
    staged = home / f".dagster.yaml.{os.getpid()}"
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", staged)
    os.replace(staged, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)
