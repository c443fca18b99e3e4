"""Findings about what was delivered rather than what it says (docs/contract.md section 5).

- UNSUPPORTED_FILE: an entry of the landing zone that is not a regular file (symlink, FIFO,
  socket, device), from meta.unsupported_files; it resolves when the entry is gone. Only its path
  and kind are recorded: it is never opened.
- FILE_REWRITTEN: a path whose bytes changed after they were loaded; the new bytes load as a new
  file. Permanent evidence: acknowledged, never resolved by itself.
- CONFLICTING_SNAPSHOT: two files deliver the same key of one scope at the same instant with
  different values. Staging keeps the row of the file whose sha256 is the greater
  (macros/staging.sql), whatever the order of arrival; the finding names both files and the one
  that counts, and stays open while that instant is the scope's newest.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from orchestration.lib.feeds import Feed
from orchestration.lib.quality.schema import QUALITY_SCHEMA, relation_exists
from orchestration.lib.quality.settings import QualitySettings
from orchestration.lib.quality.snapshot_index import literal_ids, scope_expression
from orchestration.lib.raw_schema import (
    LEDGER_TABLE,
    META_SCHEMA,
    RAW_SCHEMA,
    UNSUPPORTED_FILES_TABLE,
    pages_of_loads,
)

LEDGER = sql.Identifier(META_SCHEMA, LEDGER_TABLE)
INDEX = sql.Identifier(QUALITY_SCHEMA, "snapshot_index")


def unsupported_files(conn: psycopg.Connection, settings: QualitySettings) -> None:
    if not relation_exists(conn, f"{META_SCHEMA}.{UNSUPPORTED_FILES_TABLE}"):
        return
    conn.execute(
        sql.SQL(
            "insert into current_findings select 'UNSUPPORTED_FILE', %s, u.source, u.feed, null, null, u.file_path,"
            " jsonb_build_object('file_path', u.file_path, 'file_kind', u.file_kind,"
            "  'first_seen_at', u.first_seen_at, 'detected_by', 'loader')"
            " from {} u"
        ).format(sql.Identifier(META_SCHEMA, UNSUPPORTED_FILES_TABLE)),
        (settings.severity_of("UNSUPPORTED_FILE"),),
    )


def rewritten_files(conn: psycopg.Connection, settings: QualitySettings) -> None:
    """Each load of a path whose earlier load had other bytes."""
    conn.execute(
        sql.SQL(
            "insert into current_findings select 'FILE_REWRITTEN', %s, l.source, l.feed, null, null,"
            " l.file_path || '|' || l.file_hash,"
            " jsonb_build_object('file_path', l.file_path, 'load_id', l.load_id, 'file_hash', l.file_hash,"
            "  'previous_load_id', p.load_id, 'previous_file_hash', p.file_hash, 'status', l.status,"
            "  'detected_by', 'loader_ledger')"
            " from {ledger} l"
            " join lateral (select e.load_id, e.file_hash from {ledger} e"
            "   where e.file_path = l.file_path and e.load_id < l.load_id order by e.load_id desc limit 1) p"
            "   on p.file_hash <> l.file_hash"
        ).format(ledger=LEDGER),
        (settings.severity_of("FILE_REWRITTEN"),),
    )


def conflicting_snapshots(conn: psycopg.Connection, feed: Feed, settings: QualitySettings) -> None:
    """Scopes whose newest instant came in several files that disagree on a key."""
    candidates = conn.execute(
        sql.SQL(
            "select scope_value, snapshot_ts, array_agg(load_id order by load_id) from {index} i"
            " where feed = %s and snapshot_ts = (select max(n.snapshot_ts) from {index} n"
            "   where n.feed = i.feed and n.scope_value = i.scope_value)"
            " group by 1, 2 having count(distinct load_id) > 1"
        ).format(index=INDEX),
        (feed.feed_id,),
    ).fetchall()
    if not candidates:  # the usual case: one file per instant
        return
    loads = sorted({load for _, _, ids in candidates for load in ids})
    key = [c for c in feed.key if c not in feed.scope] or list(feed.key)
    content = [c.name for c in feed.columns if c.name not in (*feed.key, feed.time_column)]
    row_content = sql.SQL("row({})::text").format(sql.SQL(", ").join(map(sql.Identifier, content)))
    conn.execute(
        sql.SQL(
            "insert into current_findings"
            " select 'CONFLICTING_SNAPSHOT', %(severity)s, %(source)s, %(feed)s, {location}, null,"
            "  c.scope_value || '|' || c.snapshot_ts::text,"
            "  jsonb_build_object('scope', %(scope)s::text, 'scope_value', c.scope_value, 'snapshot_ts', c.snapshot_ts,"
            "   'conflicting_keys', c.conflicting_keys, 'sample_key', c.sample_key, 'files', f.files,"
            "   'counts', f.files -> 0, 'rule', 'the row of the file with the greater sha256 counts',"
            "   'detected_by', 'snapshot_index')"
            " from (select scope_value, snapshot_ts, count(*) as conflicting_keys, min(key_value) as sample_key"
            "       from (select {scope} as scope_value, snapshot_ts, concat_ws('|', {key}) as key_value"
            "             from {raw} where {pages} and _load_id = any({loads})"
            "             group by 1, 2, 3 having count(distinct _load_id) > 1 and count(distinct {content}) > 1) k"
            "       group by 1, 2) c"
            " cross join lateral (select jsonb_agg(jsonb_build_object('file_path', l.file_path, 'file_hash', l.file_hash,"
            "   'load_id', l.load_id) order by l.file_hash desc) as files"
            "   from {index} i join {ledger} l on l.load_id = i.load_id"
            "   where i.feed = %(feed)s and i.scope_value = c.scope_value and i.snapshot_ts = c.snapshot_ts) f"
            " where (c.scope_value, c.snapshot_ts) in (values {instants})"
        ).format(
            instants=sql.SQL(", ").join(
                sql.SQL("({}, {}::timestamptz)").format(sql.Literal(scope), sql.Literal(ts))
                for scope, ts, _ in candidates
            ),
            location=sql.SQL("c.scope_value") if list(feed.scope) == ["location_id"] else sql.SQL("null"),
            scope=scope_expression(feed),
            key=sql.SQL(", ").join(map(sql.Identifier, key)),
            raw=sql.Identifier(RAW_SCHEMA, feed.raw_table),
            pages=pages_of_loads(conn, loads),
            loads=literal_ids(loads),
            content=row_content,
            index=INDEX,
            ledger=LEDGER,
        ),
        {
            "severity": settings.severity_of("CONFLICTING_SNAPSHOT"),
            "source": feed.source,
            "feed": feed.feed_id,
            "scope": ", ".join(feed.scope) or "feed",
        },
    )
