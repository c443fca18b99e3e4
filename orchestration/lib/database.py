"""Database URLs for each client, and connections for the loader and tests.

One PostgreSQL serves the warehouse (raw, staging, marts, quality, ...) and Dagster's storage
(schema `dagster`). Each client wants the URL in its own dialect:
- psycopg 3 (loader, tests): the plain libpq URL;
- Dagster storage: `postgresql+psycopg2://` (dagster-postgres fails under psycopg 3);
- dbt: host/port/user/password/dbname env vars read by profiles.yml;
- Great Expectations: any SQLAlchemy URL.
"""

from __future__ import annotations

import os
from urllib.parse import quote, unquote, urlencode, urlsplit

import psycopg

from orchestration.lib import embedded_postgres
from orchestration.lib.settings import Settings, load_settings

DAGSTER_SCHEMA = "dagster"


class DatabaseNotConfigured(RuntimeError):
    pass


def warehouse_url(settings: Settings | None = None, *, start: bool = True) -> str:
    """The libpq URL of the warehouse; starts the embedded server when no URL is configured."""
    settings = settings or load_settings()
    if settings.database_url:
        if urlsplit(settings.database_url).scheme not in ("postgres", "postgresql"):
            raise DatabaseNotConfigured(
                f"OMNI_DATABASE_URL={redact(settings.database_url)!r} is not a PostgreSQL URL: give "
                "postgresql://USER:PASSWORD@HOST:PORT/DATABASE, or unset it to use the embedded server"
            )
        return settings.database_url
    if start:
        return embedded_postgres.start(settings.pg_dir)
    url = embedded_postgres.running_url(settings.pg_dir)
    if url is None:
        raise DatabaseNotConfigured(
            f"OMNI_DATABASE_URL is unset and the embedded PostgreSQL under {settings.pg_dir} is not "
            "running: run `omni-inventory db start`."
        )
    return url


def _with_driver(url: str, driver: str, extra_query: dict[str, str] | None = None) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") and not parts.scheme.startswith("postgresql+"):
        raise ValueError(f"not a PostgreSQL URL: {redact(url)}")
    query = parts.query
    if extra_query:
        query = "&".join(q for q in (query, urlencode(extra_query, quote_via=quote)) if q)
    rest = parts.netloc + parts.path + (f"?{query}" if query else "")
    return f"postgresql+{driver}://{rest}"


def sqlalchemy_url(url: str, driver: str = "psycopg2") -> str:
    return _with_driver(url, driver)


def dagster_storage_url(url: str) -> str:
    """psycopg2 URL whose connections live in the `dagster` schema."""
    return _with_driver(url, "psycopg2", {"options": f"-csearch_path={DAGSTER_SCHEMA}"})


def dbt_env(url: str) -> dict[str, str]:
    """The OMNI_PG_* variables dbt_project/profiles.yml reads."""
    parts = urlsplit(url)
    return {
        "OMNI_PG_HOST": parts.hostname or "127.0.0.1",
        "OMNI_PG_PORT": str(parts.port or 5432),
        "OMNI_PG_USER": unquote(parts.username or "postgres"),
        "OMNI_PG_PASSWORD": unquote(parts.password or ""),
        "OMNI_PG_DBNAME": (parts.path or "/postgres").lstrip("/") or "postgres",
    }


def dbt_database_url() -> str:
    """The libpq URL of the database dbt is configured for (the OMNI_PG_* variables)."""
    user = quote(os.environ.get("OMNI_PG_USER", "postgres"), safe="")
    password = os.environ.get("OMNI_PG_PASSWORD", "")
    credentials = f"{user}:{quote(password, safe='')}" if password else user
    host, port = os.environ.get("OMNI_PG_HOST", "127.0.0.1"), os.environ.get("OMNI_PG_PORT", "5432")
    return f"postgresql://{credentials}@{host}:{port}/{quote(os.environ.get('OMNI_PG_DBNAME', 'postgres'), safe='')}"


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def export_environment(settings: Settings | None = None, *, start: bool = True) -> str:
    """Resolve the warehouse URL and publish it to every client through environment variables.

    Child processes (Dagster run workers, the daemon, dbt) read the same variables, so everything
    talks to one database whichever process started first.
    """
    settings = settings or load_settings()
    url = warehouse_url(settings, start=start)
    os.environ["OMNI_RESOLVED_DATABASE_URL"] = url
    os.environ["OMNI_DAGSTER_STORAGE_URL"] = dagster_storage_url(url)
    os.environ["OMNI_LANDING_DIR"] = str(settings.landing_dir)
    os.environ["OMNI_HOME"] = str(settings.home)
    os.environ.update(dbt_env(url))
    ensure_dagster_schema(url)
    return url


def resolved_url() -> str:
    """The URL `export_environment` published, or the configured/embedded one."""
    return os.environ.get("OMNI_RESOLVED_DATABASE_URL") or warehouse_url()


def connect(url: str | None = None, **kwargs) -> psycopg.Connection:
    return psycopg.connect(url or resolved_url(), **kwargs)


def ensure_dagster_schema(url: str) -> None:
    with psycopg.connect(url) as conn, conn.transaction():
        # Two processes starting at once (two runs, a run and `dev`) would race on the catalog:
        # CREATE SCHEMA IF NOT EXISTS fails with a unique violation when another creates it meanwhile.
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.ensure_dagster_schema'))")
        conn.execute(f"create schema if not exists {DAGSTER_SCHEMA}")
