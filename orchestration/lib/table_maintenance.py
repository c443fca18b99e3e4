"""Vacuum and analyze, at the end of a dbt build, the big tables it wrote in bulk.

PostgreSQL's autovacuum vacuums a table once the rows inserted (or dead) since its last vacuum
pass a threshold, and analyzes it once the rows changed since its last analyze do. A full build
writes millions of rows per table, so autovacuum would then vacuum and analyze each of them in
the background, during the micro-batches that follow, which on two cores slowed the first of
them by half. The build's own step does that work instead, with autovacuum's thresholds, so it
lands in the run that wrote the rows and autovacuum finds nothing left to do. Micro-batches
rarely cross a big table's thresholds, and then pay what autovacuum would have cost them anyway.

(The models' post-hook `omni_refresh_statistics` analyzes within the model's transaction, for
the next models of the same build; those changes are counted only once it commits, which is why
autovacuum would analyze the table again.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psycopg
from psycopg import sql

# Below this size autovacuum's pass takes milliseconds and can stay in the background.
MIN_ROWS = 100_000

# Autovacuum's rules (PostgreSQL's relation_needs_vacanalyze), with the server's settings; a
# table never vacuumed nor analyzed has reltuples -1, counted as 0 as autovacuum does.
_DUE = """
with settings as (
    select current_setting('autovacuum_vacuum_threshold')::float8 as vacuum_base,
        current_setting('autovacuum_vacuum_scale_factor')::float8 as vacuum_scale,
        current_setting('autovacuum_vacuum_insert_threshold')::float8 as insert_base,
        current_setting('autovacuum_vacuum_insert_scale_factor')::float8 as insert_scale,
        current_setting('autovacuum_analyze_threshold')::float8 as analyze_base,
        current_setting('autovacuum_analyze_scale_factor')::float8 as analyze_scale
), tables as (
    select format('%%I.%%I', stats.schemaname, stats.relname) as relation,
        greatest(class.reltuples, 0) as tuples, stats.n_live_tup as live,
        stats.n_dead_tup as dead, stats.n_ins_since_vacuum as inserted,
        stats.n_mod_since_analyze as modified
    from pg_stat_user_tables as stats
    join pg_class as class on class.oid = stats.relid
    where stats.relid = any(
        select to_regclass(name) from unnest(%(relations)s::text[]) as name where to_regclass(name) is not null
    )
)
select relation, live,
    dead > vacuum_base + vacuum_scale * tuples or inserted > insert_base + insert_scale * tuples,
    modified > analyze_base + analyze_scale * tuples
from tables, settings
where greatest(tuples, live) >= %(min_rows)s
order by relation
"""


@dataclass(frozen=True)
class DueTable:
    relation: str  # schema-qualified, quoted as needed
    rows: int
    vacuum: bool
    analyze: bool

    def statement(self) -> sql.Composable:
        # SKIP_LOCKED: a table autovacuum is already working on is left to it.
        if self.vacuum:
            options = "analyze, skip_locked" if self.analyze else "skip_locked"
            return sql.SQL(f"vacuum ({options}) {{}}").format(sql.SQL(self.relation))
        return sql.SQL("analyze (skip_locked) {}").format(sql.SQL(self.relation))


def tables_due(
    conn: psycopg.Connection, relations: Iterable[str], min_rows: int = MIN_ROWS
) -> list[DueTable]:
    """Which of `relations` (schema.table names; views and missing ones are skipped) autovacuum would
    vacuum or analyze now, among those of at least `min_rows` rows."""
    rows = conn.execute(_DUE, {"relations": list(relations), "min_rows": min_rows}).fetchall()
    return [
        DueTable(relation, rows, vacuum, analyze)
        for relation, rows, vacuum, analyze in rows
        if vacuum or analyze
    ]


def maintain_written_tables(
    conn: psycopg.Connection, relations: Iterable[str], log: Callable[[str], None], min_rows: int = MIN_ROWS
) -> float:
    """Vacuum and/or analyze the tables of `relations` that are due; seconds spent.

    `conn` must be in autocommit mode (VACUUM cannot run inside a transaction).
    """
    started = time.monotonic()
    for table in tables_due(conn, relations, min_rows):
        begun = time.monotonic()
        conn.execute(table.statement())
        work = " and ".join(["vacuumed"] * table.vacuum + ["analyzed"] * table.analyze)
        log(f"{work} {table.relation} ({table.rows:,} rows) in {time.monotonic() - begun:.1f} s")
    return time.monotonic() - started
