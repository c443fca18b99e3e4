"""Logins in the read-only BI role, for people (`omni-inventory bi-user NAME`) and for the
platform's own readers (the dashboard and the availability API), see docs/contract.md section 5.

A login is a PostgreSQL role that can log in, inherits `omni_bi` and nothing else. Its password
is generated here and kept under `$OMNI_HOME/secrets/` with mode 0600, so a service login
survives restarts without the password ever reaching a log.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from orchestration.lib.settings import Settings, load_settings

BI_ROLE = "omni_bi"
# The login the dashboard and the API read through: never the owner's.
SERVICE_LOGIN = "omni_bi_service"
# What a BI session may hold: no stall of a build longer than these.
LOGIN_LIMITS = {"idle_in_transaction_session_timeout": "60s", "statement_timeout": "300s"}
# Lower-case identifiers only: a login name is also a file name under secrets/.
_LOGIN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class InvalidLoginName(ValueError):
    pass


def secrets_dir(settings: Settings) -> Path:
    path = settings.home / "secrets"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _check_name(name: str) -> None:
    if not _LOGIN_NAME.match(name) or name == BI_ROLE:
        raise InvalidLoginName(
            f"invalid login name {name!r}: use 1-63 lower-case letters, digits or '_', starting with a "
            f"letter or '_' (and not {BI_ROLE!r} itself)"
        )


def ensure_bi_role(conn: psycopg.Connection) -> None:
    """The role itself, as the dbt grants macro creates it (roles are cluster-wide: a race is fine)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.bi_role'))")
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (BI_ROLE,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(BI_ROLE)))


def login_url(owner_url: str, name: str, password: str) -> str:
    """The owner's URL with the login's credentials instead (same host, port, database)."""
    parts = urlsplit(owner_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(name, safe='')}:{quote(password, safe='')}@{host}" + (
        f":{parts.port}" if parts.port else ""
    )
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def create_bi_login(owner_url: str, name: str, *, password: str | None = None) -> str:
    """Create login `name` in the BI role (or give an existing one a new password); its URL.

    The role is granted nothing but membership of omni_bi, so it reads what omni_bi reads.
    """
    _check_name(name)
    password = password or secrets.token_urlsafe(24)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        ensure_bi_role(conn)
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('omni.bi_role'))")
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(
                sql.SQL(verb + " role {} login password {} nosuperuser nocreatedb nocreaterole").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(BI_ROLE), sql.Identifier(name)))
            # A reader holding a mart open (a transaction left idle, an endless query) would stall
            # the build that replaces it: both are cut off. Role settings are not inherited, so
            # each login gets its own.
            for setting, value in LOGIN_LIMITS.items():
                conn.execute(
                    sql.SQL("alter role {} set {} = {}").format(
                        sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
                    )
                )
    return login_url(owner_url, name, password)


def service_bi_url(owner_url: str, settings: Settings | None = None) -> str:
    """The URL of the platform's own BI login, created on first use; its password kept 0600."""
    settings = settings or load_settings()
    secret = secrets_dir(settings) / f"{SERVICE_LOGIN}.password"
    if secret.exists():
        password = secret.read_text().strip()
        url = login_url(owner_url, SERVICE_LOGIN, password)
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return url
        except psycopg.OperationalError as error:
            if "password authentication failed" not in str(error) and "does not exist" not in str(error):
                raise
    password = secrets.token_urlsafe(24)
    url = create_bi_login(owner_url, SERVICE_LOGIN, password=password)
    descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password)
    return url
