"""Where things live: the three settings of the contract, resolved once per call."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The repository root: dbt_project/ and expectations/ sit beside the package.
PROJECT_DIR = Path(__file__).resolve().parents[2]
# Dagster's instance settings, copied into DAGSTER_HOME by `omni-inventory dev|run`. Not at the
# root: Dagster's tools (`dagster definitions validate`, `dg check defs`) read a dagster.yaml in
# the folder they run from, and this one needs the warehouse's URL.
DAGSTER_INSTANCE_TEMPLATE = PROJECT_DIR / "deploy" / "dagster.yaml"
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
EXPECTATIONS_DIR = PROJECT_DIR / "expectations"


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_dir: Path
    database_url: str | None  # None: use the embedded PostgreSQL under home/pg
    # Where channel sync writes the outbound availability files (docs/api.md).
    outbound_dir: Path | None = None

    @property
    def channel_outbound_dir(self) -> Path:
        return self.outbound_dir or self.home / "outbound"

    @property
    def pg_dir(self) -> Path:
        return self.home / "pg"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"


def load_settings() -> Settings:
    home = Path(os.environ.get("OMNI_HOME") or ".omni").expanduser().resolve()
    landing = Path(os.environ.get("OMNI_LANDING_DIR") or home / "landing").expanduser().resolve()
    url = os.environ.get("OMNI_DATABASE_URL") or None
    outbound = os.environ.get("OMNI_OUTBOUND_DIR")
    return Settings(
        home=home,
        landing_dir=landing,
        database_url=url,
        outbound_dir=Path(outbound).expanduser().resolve() if outbound else None,
    )
