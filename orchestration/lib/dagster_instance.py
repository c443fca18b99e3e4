"""DAGSTER_HOME under $OMNI_HOME, with the repository's dagster.yaml."""

from __future__ import annotations

import os
import shutil

from orchestration.lib.settings import PROJECT_DIR, Settings


def prepare_dagster_home(settings: Settings) -> str:
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return str(home)
