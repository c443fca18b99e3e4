"""DAGSTER_HOME under $OMNI_HOME, with the repository's dagster.yaml."""

from __future__ import annotations

import os
import shutil

from orchestration.lib.settings import DAGSTER_INSTANCE_TEMPLATE, Settings


def prepare_dagster_home(settings: Settings) -> str:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    # Run records and compute logs are the owner's only, also in a home an older version left open.
    home.chmod(0o700)
    # Copied aside, then renamed over: another process starting a run from the same home (a second
    # `omni-inventory run`, a run worker of `dev`) reads the old file or the new one, never a
    # half-written one (an empty dagster.yaml silently falls back to Dagster's default storage).
    staged = home / f".dagster.yaml.{os.getpid()}"
    shutil.copyfile(DAGSTER_INSTANCE_TEMPLATE, staged)
    os.replace(staged, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)
