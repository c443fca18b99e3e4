"""Resources shared by every area: the warehouse connection and the landing zone."""

from pathlib import Path

import dagster as dg

from orchestration.lib.database import resolved_url
from orchestration.lib.settings import load_settings


class Warehouse(dg.ConfigurableResource):
    """The PostgreSQL warehouse and the landing zone.

    Nothing secret is configured here: the URL comes from OMNI_DATABASE_URL at run time (or the
    embedded server under $OMNI_HOME/pg), so it never appears in run config or the UI.
    """

    def url(self) -> str:
        return resolved_url()

    def landing_dir(self) -> Path:
        return load_settings().landing_dir
