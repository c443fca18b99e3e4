"""Vacuum and analyze, at the end of a dbt build, the big tables it wrote in bulk.

PostgreSQL's autovacuum vacuums a table once the rows inserted (or dead) since its last vacuum
pass a threshold, and analyzes it once the rows changed since its last analyze do. A full build
writes millions of rows per table, so autovacuum then vacuums and analyzes each of them in the
background, competing on two cores with whatever runs next: the micro-batches that follow a
short build (at the seed's scale autovacuum kept up during the 16-minute build itself, and only
the last tables written were left). The build's own step does that work instead, with
autovacuum's thresholds, so it lands in the run that wrote the rows and autovacuum finds nothing
left to do. Only tables the build wrote in bulk (at least half their rows) are done here: what a micro-batch changes in part
is left to autovacuum, which works in the background and throttles itself. Autovacuum's
per-table settings (reloptions) are not read; a table it is already working on is skipped.

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
# Written in bulk: at least this share of the table's rows inserted, changed or dead since its
# last vacuum or analyze.
BULK_SHARE = 0.5

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
    dead > vacuum_base + vacuum_scale * tuples
        or (insert_base >= 0 and inserted > insert_base + insert_scale * tuples),  -- -1: off
    modified > analyze_base + analyze_scale * tuples
from tables, settings
where greatest(tuples, live) >= %(min_rows)s
  and greatest(inserted, modified, dead) >= %(bulk_share)s * greatest(tuples, live)
order by relation
"""


@dataclass(frozen=True)
class DueTable:
    relation: str  # schema-qualified, quoted as needed
    rows: int
    vacuum: bool
    analyze: bool

    def statement(self) -> sql.Composed:
        # SKIP_LOCKED: a table autovacuum is already working on is left to it.
        if self.vacuum:
            options = "analyze, skip_locked" if self.analyze else "skip_locked"
            return sql.SQL(f"vacuum ({options}) {{}}").format(sql.SQL(self.relation))
        return sql.SQL("analyze (skip_locked) {}").format(sql.SQL(self.relation))


def tables_due(
    conn: psycopg.Connection, relations: Iterable[str], min_rows: int = MIN_ROWS
) -> list[DueTable]:
    """Which of `relations` (schema.table names; views and missing ones are skipped) autovacuum would
    vacuum or analyze now, among those of at least `min_rows` rows written in bulk."""
    rows = conn.execute(
        _DUE, {"relations": list(relations), "min_rows": min_rows, "bulk_share": BULK_SHARE}
    ).fetchall()
    return [
        DueTable(relation, rows, vacuum, analyze)
        for relation, rows, vacuum, analyze in rows
        if vacuum or analyze
    ]


def maintain_written_tables(
    conn: psycopg.Connection,
    relations: Iterable[str],
    log: Callable[[str], None],
    warn: Callable[[str], None],
    min_rows: int = MIN_ROWS,
) -> None:
    """Vacuum and/or analyze the tables of `relations` that are due, logging each with its time.

    `conn` must be in autocommit mode (VACUUM cannot run inside a transaction). A failure is
    logged, not raised: the build it follows has succeeded, and autovacuum will do the work.
    """
    skipped: list[str] = []
    conn.add_notice_handler(lambda notice: skipped.append(notice.message_primary or ""))
    try:
        for table in tables_due(conn, relations, min_rows):
            begun, skipped[:] = time.monotonic(), []
            conn.execute(table.statement())
            if any(message.startswith("skipping") for message in skipped):
                log(f"left {table.relation} to autovacuum, which is working on it")
                continue
            work = " and ".join(["vacuumed"] * table.vacuum + ["analyzed"] * table.analyze)
            log(f"{work} {table.relation} ({table.rows:,} rows) in {time.monotonic() - begun:.1f} s")
    except psycopg.Error as error:
        warn(f"table maintenance stopped, the rest is left to autovacuum: {error}")
