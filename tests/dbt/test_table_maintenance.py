"""Autovacuum's work on the tables a build wrote in bulk is done by the build (lib/table_maintenance.py)."""

from __future__ import annotations

import psycopg

from orchestration.lib.table_maintenance import DueTable, maintain_written_tables, tables_due

STATS = (
    "select n_ins_since_vacuum, n_mod_since_analyze, last_vacuum is not null, last_analyze is not null"
    " from pg_stat_user_tables where relid = %s::regclass"
)


def publish_counters(writer: psycopg.Connection) -> None:
    """Make the session's row counters visible to other sessions before this returns.

    A session publishes them when it goes idle, at most once a second, and when it exits, which
    happens after the client has closed it: reading them right after either raced. A flush forced
    by this statement happens before the server answers it.
    """
    writer.execute("select pg_stat_force_next_flush()")


def test_a_bulk_written_table_is_vacuumed_and_analyzed_once_and_others_are_left_to_autovacuum(
    db_url: str,
) -> None:
    with psycopg.connect(db_url, autocommit=True) as writer:
        writer.execute("create schema intermediate")
        writer.execute("create table intermediate.big as select g as id from generate_series(1, 20000) as g")
        writer.execute("create table intermediate.small as select g as id from generate_series(1, 50) as g")
        writer.execute("create view intermediate.a_view as select 1 as one")
        publish_counters(writer)
    with psycopg.connect(db_url, autocommit=True) as conn:
        relations = [
            '"intermediate"."big"',
            '"intermediate"."small"',
            '"intermediate"."a_view"',
            "marts.missing",
        ]

        assert tables_due(conn, relations, min_rows=10_000) == [
            DueTable("intermediate.big", 20000, True, True)
        ]
        assert conn.execute(STATS, ["intermediate.big"]).fetchone() == (20000, 20000, False, False)

        # a table autovacuum is working on (its lock taken) is left to it
        lines: list[str] = []
        with psycopg.connect(db_url) as autovacuum:
            autovacuum.execute("lock table intermediate.big in share update exclusive mode")
            maintain_written_tables(conn, relations, lines.append, lines.append, min_rows=10_000)
        assert lines == ["left intermediate.big to autovacuum, which is working on it"]

        lines.clear()
        maintain_written_tables(conn, relations, lines.append, lines.append, min_rows=10_000)
        assert len(lines) == 1 and lines[0].startswith(
            "vacuumed and analyzed intermediate.big (20,000 rows) in "
        )
        assert conn.execute(STATS, ["intermediate.big"]).fetchone() == (0, 0, True, True)
        assert tables_due(conn, relations, min_rows=10_000) == []

        # an eighth of the rows changed (past autovacuum's analyze threshold, 50 + 10 %), as a
        # micro-batch would: not bulk, left to autovacuum
        with psycopg.connect(db_url, autocommit=True) as writer:
            writer.execute("update intermediate.big set id = -id where id <= 2500")
            publish_counters(writer)
        assert conn.execute(STATS, ["intermediate.big"]).fetchone()[1] == 2500
        assert tables_due(conn, relations, min_rows=10_000) == []
        assert DueTable("intermediate.big", 20000, False, True).statement().as_string(conn) == (
            "analyze (skip_locked) intermediate.big"
        )

        # a failure is reported as a warning, not raised: the build it follows succeeded
        warnings: list[str] = []
        with psycopg.connect(db_url, autocommit=True) as writer:
            writer.execute("insert into intermediate.big select g from generate_series(1, 30000) as g")
            publish_counters(writer)
        conn.execute("set statement_timeout = 1")
        maintain_written_tables(conn, relations, lines.append, warnings.append, min_rows=10_000)
        assert len(warnings) == 1 and "left to autovacuum" in warnings[0]
