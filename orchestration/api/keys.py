"""API keys: created by the owner, stored as a SHA-256 hash, verified through a login that sees hashes only.

A key is 32 random bytes (256 bits, `secrets.token_urlsafe`). A slow, salted hash (scrypt, PBKDF2)
protects low-entropy passwords from guessing; a 256-bit random key cannot be guessed whatever the
hash costs, so one SHA-256 suffices and a request is verified in microseconds, with an index lookup.

The table meta.api_keys belongs to the warehouse owner. The API verifies keys through its own
login `omni_api_keys`, which may read the key table's hash, id, name, limit and revocation columns
and nothing else (no BI data, no other meta table); it reads the availability through the BI
service login (lib/bi_access.py). The API process thus never holds a connection as the owner, and
the BI logins people use cannot see the key table at all.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass

import psycopg
from psycopg import sql

from orchestration.lib.bi_access import login_url, secrets_dir
from orchestration.lib.settings import Settings, load_settings

KEY_PREFIX = "omni_"
KEYS_LOGIN = "omni_api_keys"
# The columns the verifying login may read (a column grant): never created_at or anything else.
VERIFIED_COLUMNS = ("key_id", "name", "key_hash", "rate_limit_per_second", "revoked_at")

API_KEYS_DDL = """
create schema if not exists meta;
create table if not exists meta.api_keys (
    key_id                 bigint generated always as identity primary key,
    name                   text not null unique,
    key_hash               text not null unique,   -- sha256 hex of the whole key
    key_hint               text not null,          -- the key's first characters, to tell keys apart
    rate_limit_per_second  numeric check (rate_limit_per_second > 0),  -- null: OMNI_API_RATE_LIMIT
    created_at             timestamptz not null default now(),
    revoked_at             timestamptz
);
"""


class KeyNameTaken(ValueError):
    pass


@dataclass(frozen=True)
class ApiKey:
    key_id: int
    name: str
    rate_limit_per_second: float | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ensure_api_keys_table(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.api_keys'))")
        conn.execute(API_KEYS_DDL)


def create_api_key(owner_url: str, name: str, rate_limit_per_second: float | None = None) -> str:
    """A new key for `name`; only its hash is stored. The key itself is returned once, here."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with psycopg.connect(owner_url) as conn:
        ensure_api_keys_table(conn)
        with conn.transaction():
            inserted = conn.execute(
                "insert into meta.api_keys (name, key_hash, key_hint, rate_limit_per_second)"
                " values (%s, %s, %s, %s) on conflict (name) do nothing",
                (name, hash_key(key), key[: len(KEY_PREFIX) + 4], rate_limit_per_second),
            ).rowcount
    if not inserted:
        raise KeyNameTaken(f"an API key named {name!r} exists: revoke it or choose another name")
    return key


def revoke_api_key(owner_url: str, name: str) -> bool:
    with psycopg.connect(owner_url) as conn:
        ensure_api_keys_table(conn)
        return (
            conn.execute(
                "update meta.api_keys set revoked_at = now() where name = %s and revoked_at is null", (name,)
            ).rowcount
            == 1
        )


def keys_login_url(owner_url: str, settings: Settings | None = None) -> str:
    """The verifying login's URL: created (or its password reset) here, password kept 0600 in secrets/."""
    settings = settings or load_settings()
    secret = secrets_dir(settings) / f"{KEYS_LOGIN}.password"
    password = secret.read_text().strip() if secret.exists() else secrets.token_urlsafe(24)
    with psycopg.connect(owner_url, autocommit=True) as conn:
        ensure_api_keys_table(conn)
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('omni.api_keys'))")
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (KEYS_LOGIN,)).fetchone()
            verb = "alter" if exists else "create"
            conn.execute(
                sql.SQL(
                    verb + " role {} login password {} nosuperuser nocreatedb nocreaterole noinherit"
                ).format(sql.Identifier(KEYS_LOGIN), sql.Literal(password))
            )
            conn.execute(sql.SQL("grant usage on schema meta to {}").format(sql.Identifier(KEYS_LOGIN)))
            conn.execute(
                sql.SQL("grant select ({}) on meta.api_keys to {}").format(
                    sql.SQL(", ").join(sql.Identifier(c) for c in VERIFIED_COLUMNS),
                    sql.Identifier(KEYS_LOGIN),
                )
            )
    if not secret.exists():
        descriptor = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(password)
    return login_url(owner_url, KEYS_LOGIN, password)


VERIFY_SQL = (
    "select key_id, name, rate_limit_per_second from meta.api_keys where key_hash = %s and revoked_at is null"
)
