"""Autovacuum's work on the tables a build wrote in bulk is done by the build (lib/table_maintenance.py)."""

from __future__ import annotations

import psycopg

from orchestration.lib.table_maintenance import DueTable, maintain_written_tables, tables_due

STATS = (
    "select n_ins_since_vacuum, n_mod_since_analyze, last_vacuum is not null, last_analyze is not null"
    " from pg_stat_user_tables where relid = %s::regclass"
)


def test_a_bulk_written_table_is_vacuumed_and_analyzed_once_and_small_or_missing_ones_are_left(
    db_url: str,
) -> None:
    # A session's counters reach the statistics when it closes (or goes idle a while): write in
    # one that closes, as dbt's do at the end of a command.
    with psycopg.connect(db_url, autocommit=True) as writer:
        writer.execute("create schema intermediate")
        writer.execute("create table intermediate.big as select g as id from generate_series(1, 20000) as g")
        writer.execute("create table intermediate.small as select g as id from generate_series(1, 50) as g")
        writer.execute("create view intermediate.a_view as select 1 as one")
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

        lines: list[str] = []
        maintain_written_tables(conn, relations, lines.append, min_rows=10_000)
        assert len(lines) == 1 and lines[0].startswith(
            "vacuumed and analyzed intermediate.big (20,000 rows) in "
        )
        assert conn.execute(STATS, ["intermediate.big"]).fetchone() == (0, 0, True, True)
        assert tables_due(conn, relations, min_rows=10_000) == []

        # rows changed past the analyze threshold only (50 + 10 %): analyzed, not vacuumed
        with psycopg.connect(db_url, autocommit=True) as writer:
            writer.execute("update intermediate.big set id = -id where id <= 2500")
        assert tables_due(conn, relations, min_rows=10_000) == [
            DueTable("intermediate.big", 20000, False, True)
        ]
        assert DueTable("intermediate.big", 20000, False, True).statement().as_string(conn) == (
            "analyze (skip_locked) intermediate.big"
        )
