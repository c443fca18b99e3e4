"""What every benchmark shares: a scratch database on the embedded (or configured) server, and the report."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import psycopg

from orchestration.lib import embedded_postgres
from orchestration.lib.raw_schema import ensure_warehouse
from orchestration.lib.settings import load_settings


def scratch_warehouse(name: str) -> str:
    """A fresh database `name` with the raw layer, on OMNI_DATABASE_URL's server or a scratch embedded one."""
    server = load_settings().database_url or embedded_postgres.start(
        Path(tempfile.gettempdir()) / "omni-bench-pg"
    )
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    url = server.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url) as conn:
        ensure_warehouse(conn)
    return url


def report(results: dict[str, object], path: Path) -> None:
    """Print the figures as a table and write them as JSON."""
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
