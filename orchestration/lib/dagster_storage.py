"""Dagster's PostgreSQL storage with its connections kept open between statements.

dagster-postgres opens a new PostgreSQL session for every statement (SQLAlchemy's NullPool), so
that idle Dagster processes hold no connection. A run writes an event for every log line, every
dbt model materialized and every check evaluated: a few hundred per micro-batch, each paying a
new session (about 9 ms on two cores, against 2 ms on an open one, measured), in the step's
thread while dbt works in another. Here the run and event storages keep one session open per
instance, open more only while threads write at once, and close them when the instance is
disposed; a session that died with the server (restart, failover) is noticed before use and
replaced (`pool_pre_ping`). The schedule storage, written a few times per sensor tick, keeps
dagster-postgres's engine.

Every part waits up to OUTAGE_WAIT_SECONDS for the server when it cannot connect, where
dagster-postgres gives up after about 6 s. The embedded default keeps the warehouse and Dagster on
one server: when it restarts mid-run, the step that lost the warehouse fails and is retried
(orchestration/defs/retry.py), and the events saying so must be written once the server is back
rather than crash the run (docs/contract.md section 5).

dagster.yaml names it as `storage: custom:`, with the same `postgres_url` setting as
dagster-postgres's own storage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy
from dagster._core.storage.config import pg_config
from dagster._serdes.config_class import ConfigurableClassData
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Sessions each storage keeps open when idle; more open while threads write concurrently.
KEPT_SESSIONS = 1
T = TypeVar("T")
# How long a storage waits for the server to come back (a restart takes a few seconds).
OUTAGE_WAIT_SECONDS = 90.0


@contextmanager
def connect_waiting(engine: sqlalchemy.engine.Engine, wait: float = OUTAGE_WAIT_SECONDS) -> Iterator[Any]:
    """A connection of `engine`, retried every second for `wait` seconds while the server is away."""
    deadline = time.monotonic() + wait
    while True:
        try:
            conn = engine.connect()
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.DatabaseError) as error:
            if time.monotonic() > deadline:
                raise
            logging.getLogger(__name__).warning("Dagster storage waits for its database: %s", error)
            time.sleep(1.0)
    try:
        yield conn
    finally:
        conn.close()


class _PooledEngine:
    """Mixin for a dagster-postgres storage part: a pooled engine, closed with the instance."""

    _engine: Any

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True, token_provider: Any = None):
        super().__init__(postgres_url, should_autocreate_tables, token_provider=token_provider)  # type: ignore[call-arg]
        self._engine.dispose()  # the NullPool engine of dagster-postgres (see the module docstring)
        self._engine = create_pg_engine(
            postgres_url,
            token_provider,
            isolation_level="AUTOCOMMIT",  # as dagster-postgres's own engines
            pool_size=KEPT_SESSIONS,
            max_overflow=-1,  # never make a writer wait for a session
            pool_pre_ping=True,
        )

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()


def retried_on_disconnect(write: Callable[[], T], wait: float = OUTAGE_WAIT_SECONDS) -> T:
    """`write` once more each time the server dropped its session mid-statement, for `wait` seconds.

    A write cut off by a restart may have stored part of an event (dagster-postgres writes an
    event and its tags in separate statements): written again, the event shows twice in the run's
    log, which beats failing the step for its own bookkeeping.
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            return write()
        except sqlalchemy.exc.DBAPIError as error:
            if not error.connection_invalidated or time.monotonic() > deadline:
                raise
            logging.getLogger(__name__).warning("Dagster storage lost its database, writing again: %s", error)
            time.sleep(1.0)


class PooledRunStorage(_PooledEngine, PostgresRunStorage):
    """dagster-postgres's run storage on a pooled engine, closed with the instance."""

    def connect(self) -> Any:
        return connect_waiting(self._engine)

    def handle_run_event(self, *args: Any, **kwargs: Any) -> None:
        retried_on_disconnect(lambda: super(PooledRunStorage, self).handle_run_event(*args, **kwargs))


class PooledEventLogStorage(_PooledEngine, PostgresEventLogStorage):
    """dagster-postgres's event log storage on a pooled engine, closed with the instance."""

    def _connect(self) -> Any:
        return connect_waiting(self._engine)

    def store_event(self, event: Any) -> None:
        retried_on_disconnect(lambda: super(PooledEventLogStorage, self).store_event(event))

    def store_event_batch(self, events: Any) -> None:
        retried_on_disconnect(lambda: super(PooledEventLogStorage, self).store_event_batch(events))


class WaitingScheduleStorage(PostgresScheduleStorage):
    """dagster-postgres's schedule storage, waiting for the server like the other parts."""

    def connect(self, run_id: str | None = None) -> Any:
        return connect_waiting(self._engine)


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage whose run and event storages reuse their sessions."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        # What DagsterPostgresStorage.__init__ sets, with the pooled parts.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        self._run_storage = PooledRunStorage(postgres_url, should_autocreate_tables, token_provider)
        self._event_log_storage = PooledEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider
        )
        self._schedule_storage = WaitingScheduleStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider
        )
        # DagsterStorage's initializer (skipping DagsterPostgresStorage's, which builds unpooled parts)
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def config_type(cls) -> Any:
        return pg_config()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
