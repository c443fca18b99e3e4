"""Less of dbt's fixed cost per node, for commands run in process (lib/dbt_runner.py).

A micro-batch's dbt build runs about 60 nodes, and between its SQL statements dbt is CPU-bound in
Python (measured: process CPU time equal to wall time). Two things dbt repeats for every node
cost more than they need to; within one command, each is done once instead:

- dbt closes its database session after every node and opens a new one for the next. Connecting
  costs about 5 ms, and a new PostgreSQL backend starts with cold catalog caches, so the first
  catalog queries of every node cost ten times more (information_schema.columns: 9 ms, not 0.9).
- every fetched result (each run_query, each test) builds a new agate type tester, whose date
  parsers build their locale tables from scratch: about a tenth of the CPU of a build.

Both are patches of dbt internals, applied only while a command runs (InProcessDbt holds a lock,
so commands in one process never overlap) and removed afterwards. dbt-core is pinned below 1.12;
tests/dbt/test_dbt_runner.py checks the sessions a build opens and that dbt's own functions are
back afterwards, and every dbt test of the project runs through these patches.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import dbt_common.clients.agate_helper as agate_helper
from dbt.adapters.postgres.connections import PostgresConnectionManager


@contextmanager
def less_fixed_cost_per_node() -> Iterator[None]:
    with connections_kept_between_nodes(), type_testers_reused():
        yield


@contextmanager
def connections_kept_between_nodes() -> Iterator[None]:
    """Each of dbt's threads keeps its PostgreSQL session from one node to the next.

    Between nodes the session is reset as a new one would be: the transaction rolled back, then
    DISCARD ALL (temporary tables, settings, prepared statements, session advisory locks). A
    session that cannot be reset is closed, as dbt would have done, and the next node connects
    afresh. dbt closes every session at the command's end (cleanup_connections).
    """
    close_after_node = PostgresConnectionManager.release

    def reset_after_node(manager: PostgresConnectionManager) -> None:
        connection = manager.get_if_exists()
        if connection is None or connection.state != "open":
            close_after_node(manager)
            return
        try:
            handle = connection.handle
            handle.rollback()
            connection.transaction_open = False
            handle.autocommit = True
            try:
                handle.cursor().execute("discard all")
            finally:
                handle.autocommit = False
        except Exception:  # a broken session: close it
            close_after_node(manager)

    # a monkeypatch: `release` is declared on BaseConnectionManager, the patch takes the Postgres one
    PostgresConnectionManager.release = reset_after_node  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        PostgresConnectionManager.release = close_after_node  # type: ignore[method-assign]


@contextmanager
def type_testers_reused() -> Iterator[None]:
    """agate_helper.build_type_tester memoized on its arguments (a tester is read, never changed)."""
    build = agate_helper.build_type_tester

    @functools.lru_cache(maxsize=64)
    def build_once(text_columns: frozenset[str], string_null_values: tuple[str, ...] | None) -> Any:
        return build(text_columns, string_null_values=string_null_values)

    def reused(text_columns: Iterable[str], string_null_values: Iterable[str] | None = ("null", "")) -> Any:
        nulls = None if string_null_values is None else tuple(string_null_values)
        return build_once(frozenset(text_columns), nulls)

    agate_helper.build_type_tester = reused
    try:
        yield
    finally:
        agate_helper.build_type_tester = build
