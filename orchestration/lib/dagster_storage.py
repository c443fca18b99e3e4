"""Dagster's PostgreSQL storage with its connections kept open between statements.

dagster-postgres opens a new PostgreSQL session for every statement (SQLAlchemy's NullPool), so
that idle Dagster processes hold no connection. A run writes an event for every log line, every
dbt model materialized and every check evaluated: a few hundred per micro-batch, each paying a
new session (about 9 ms on two cores, against 2 ms on an open one, measured), in the step's
thread while dbt works in another. Here each storage (runs, events, schedules) keeps one session
open per process and opens more only while threads write at once; a session that died with the
server (restart, failover) is noticed before use and replaced (`pool_pre_ping`).

dagster.yaml names it as `storage: custom:`, with the same `postgres_url` setting as
dagster-postgres's own storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster._core.storage.config import pg_config
from dagster._serdes.config_class import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

# Sessions each storage keeps open when idle; more open while threads write concurrently.
KEPT_SESSIONS = 1


class PooledPostgresStorage(DagsterPostgresStorage):
    """DagsterPostgresStorage whose run, event and schedule storages reuse their sessions."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
    ) -> None:
        super().__init__(
            postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider
        )
        for part in (self._run_storage, self._event_log_storage, self._schedule_storage):
            # The NullPool engine each part created (see the module docstring) is replaced by a
            # pooled one with the same isolation; the webserver replaces it again with its own.
            part._engine.dispose()
            part._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=KEPT_SESSIONS,
                max_overflow=-1,  # never make a writer wait for a session
                pool_pre_ping=True,
            )

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
