"""Files load in batches (one transaction, a savepoint per file): what that must not change.

A bad file in a batch is quarantined alone, a crash loses only the batch in progress, runs at
once still load each file once, and the shortcuts the batches rely on (rows scanned from where
the load started, row sequences restarted per file, the lines table kept by the session) give
the same ledger and rows as loading file by file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from orchestration.lib import loader
from orchestration.lib.feeds import get_feed
from orchestration.lib.loader import ingest
from orchestration.lib.raw_copy import PREALLOCATED_PAGES, start_load_sql
from orchestration.lib.raw_schema import ROW_SEQUENCE_CACHE, ensure_warehouse
from tests.feed_files import csv_text, feed_dir, sample_rows, write_rows

SALES = get_feed("pos", "sales")
INVENTORY = get_feed("pos", "inventory")
ORDERS = get_feed("channel", "orders")
ROOT = Path(__file__).parents[2]


def _sales(prefix: str, count: int, hour: int = 8) -> list[dict[str, object]]:
    rows = sample_rows(SALES, count, event_ts=f"2026-11-01T{hour:02d}:00:00Z")
    for n, row in enumerate(rows):
        row["event_id"] = f"{prefix}_{n}"
    return rows


def _ledger(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select file_path, status, rows_loaded, reason, min_data_ts, max_data_ts from meta.file_ledger"
        ).fetchall()
    return {r[0].rsplit("/", 1)[1]: r[1:] for r in rows}


def _query(url: str, statement: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement).fetchall()


@pytest.mark.parametrize("batch_files", [1, 3, loader.BATCH_FILES])
def test_a_bad_file_in_a_batch_is_quarantined_alone(
    db_url: str, landing: Path, monkeypatch: pytest.MonkeyPatch, batch_files: int
) -> None:
    monkeypatch.setattr(loader, "BATCH_FILES", batch_files)
    folder = feed_dir(landing, SALES)
    for i in range(8):
        write_rows(folder, f"s{i}.csv", _sales(f"s{i}", 5, hour=i))
    (folder / "s3_bad.csv").write_bytes(
        b"event_id,location_id,sku,qty,event_ts\nb1,S1,A,1,2026-11-01T00:00:00Z\nb2,S1,A,lots,2026-11-01T00:00:00Z\n"
    )
    (folder / "s5_bad.jsonl").write_bytes(
        b'{"event_id":"j1","location_id":"S1","sku":"A","qty":1,"event_ts":"now"}\n'
    )
    write_rows(folder, "s6_good.jsonl", _sales("j", 4))

    report = ingest(db_url, landing)

    ledger = _ledger(db_url)
    assert {name: status for name, (status, *_) in ledger.items()} == {
        **{f"s{i}.csv": "loaded" for i in range(8)},
        "s3_bad.csv": "quarantined",
        "s5_bad.jsonl": "quarantined",
        "s6_good.jsonl": "loaded",
    }
    assert "line 3, column qty" in ledger["s3_bad.csv"][2]
    assert "line 1, column event_ts: invalid timestamptz 'now'" in ledger["s5_bad.jsonl"][2]
    assert report.count("loaded") == 9 and report.count("quarantined") == 2
    assert [o.relative for o in report.outcomes] == sorted(o.relative for o in report.outcomes)
    # every loaded file's rows, numbered 1..n, and its ledger figures
    assert _query(db_url, "select count(*), count(distinct (_load_id, _row_number)) from raw.pos__sales") == [
        (44, 44)
    ]
    assert _query(
        db_url,
        "select count(*) from meta.file_ledger l where status = 'loaded' and rows_loaded <> ("
        " select count(*) from raw.pos__sales r where r._load_id = l.load_id and r._row_number <= l.rows_loaded)",
    ) == [(0,)]
    assert ledger["s2.csv"][1:] == (
        5,
        None,
        *_query(db_url, "select timestamptz '2026-11-01T02:00:00Z'")[0] * 2,
    )
    assert ingest(db_url, landing).outcomes == []


def test_a_crash_loses_at_most_the_batch_in_progress(db_url: str, landing: Path) -> None:
    folder = feed_dir(landing, SALES)
    for i in range(5):
        write_rows(folder, f"a_{i}.csv", _sales(f"a{i}", 3))
    with open(folder / "b_big.csv", "w") as handle:
        handle.write("event_id,location_id,sku,qty,event_ts\n")
        for i in range(400_000):
            handle.write(
                f"big{i},S{i % 300:04d},SKU{i % 5000:05d},{i % 7 + 1},2026-11-01T{i % 24:02d}:00:00Z\n"
            )
    script = (
        "import sys; from pathlib import Path; from orchestration.lib import loader; "
        "loader.BATCH_FILES = 3; loader.ingest(sys.argv[1], Path(sys.argv[2]))"
    )
    child = subprocess.Popen([sys.executable, "-c", script, db_url, str(landing)], cwd=ROOT)
    try:
        with psycopg.connect(db_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 60
            # a COPY of the second batch: the first has committed
            while not watcher.execute(
                "select exists (select from meta.file_ledger) and exists (select from pg_stat_activity"
                " where query ilike 'copy%%' and state = 'active' and datname = current_database())"
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "the loader never started the big file's COPY"
                time.sleep(0.005)
            os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # autocommit: a transaction reads pg_stat_activity once and would keep seeing the COPY
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while conn.execute(
            "select count(*) from pg_stat_activity where query ilike 'copy%%' and state <> 'idle'"
            " and datname = current_database()"
        ).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # the first batch (a_0..a_2) committed; a_3, a_4 and the big file were one batch, lost whole
    assert sorted(_ledger(db_url)) == ["a_0.csv", "a_1.csv", "a_2.csv"]
    assert _query(db_url, "select count(*) from raw.pos__sales") == [(9,)]

    report = ingest(db_url, landing)

    assert sorted(o.relative.rsplit("/", 1)[1] for o in report.outcomes) == [
        "a_3.csv",
        "a_4.csv",
        "b_big.csv",
    ]
    assert _query(db_url, "select count(*), count(distinct event_id) from raw.pos__sales") == [
        (400_015, 400_015)
    ]
    assert ingest(db_url, landing).outcomes == []


LOAD_WITH_SMALL_BATCHES = (
    "import sys; from pathlib import Path; from orchestration.lib import loader; loader.BATCH_FILES = 3; "
    "r = loader.ingest(sys.argv[1], Path(sys.argv[2])); print(r.summary())"
)


def test_runs_at_once_with_small_batches_load_each_file_once(db_url: str, landing: Path) -> None:
    # Batches of 3 make the runs meet mid-batch: one tries a file another holds, commits what it
    # has and waits; none may load a file twice, lose one, or deadlock.
    for i in range(15):
        write_rows(feed_dir(landing, SALES), f"sales_{i:02d}.csv", _sales(f"f{i}", 20, hour=i))
        write_rows(
            feed_dir(landing, INVENTORY),
            f"inv_{i:02d}.jsonl",
            sample_rows(INVENTORY, 10, snapshot_ts=f"2026-11-01T{i:02d}:00:00Z"),
        )
    sales = feed_dir(landing, SALES)
    (sales / "sales_07_again.csv").write_bytes((sales / "sales_07.csv").read_bytes())
    (sales / "sales_09_bad.csv").write_bytes(
        b"event_id,location_id,sku,qty,event_ts\nx,S1,A,many,2026-11-01T00:00:00Z\n"
    )

    loaders = [
        subprocess.Popen(
            [sys.executable, "-c", LOAD_WITH_SMALL_BATCHES, db_url, str(landing)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in loaders]
    assert all(p.returncode == 0 for p in loaders), outputs

    assert _query(db_url, "select count(*), count(distinct event_id) from raw.pos__sales") == [(300, 300)]
    assert _query(db_url, "select count(*) from raw.pos__inventory") == [(150,)]
    assert _query(
        db_url, "select status, count(*) from meta.file_ledger group by status order by status"
    ) == [
        ("duplicate", 1),
        ("loaded", 30),
        ("quarantined", 1),
    ]
    assert _query(db_url, "select count(distinct file_path) from meta.file_ledger") == [(32,)]


def test_raw_tables_of_earlier_layouts_are_upgraded(db_url: str, landing: Path) -> None:
    with psycopg.connect(db_url) as conn:  # what ensure_warehouse used to create
        conn.execute("alter table raw.pos__sales add column _file_hash text")
        conn.execute("create index pos__sales__load_id on raw.pos__sales using brin (_load_id)")
        conn.execute("alter table meta.file_ledger drop column first_page, drop column end_page")
        conn.execute("alter sequence raw.pos__sales__row_seq cache 1")
        conn.execute(
            "alter table raw.pos__sales alter column _row_number set default"
            " nextval('raw.pos__sales__row_seq'::regclass) - current_setting('omni.row_base')::bigint"
        )
        conn.commit()
        ensure_warehouse(conn)
        default, cache = conn.execute(
            "select pg_get_expr(d.adbin, d.adrelid), s.cache_size from pg_attrdef d"
            " join pg_attribute a on a.attrelid = d.adrelid and a.attnum = d.adnum"
            " join pg_sequences s on s.schemaname = 'raw' and s.sequencename = 'pos__sales__row_seq'"
            " where d.adrelid = 'raw.pos__sales'::regclass and a.attname = '_row_number'"
        ).fetchone()
    assert "row_base" not in default and cache == ROW_SEQUENCE_CACHE
    assert "_file_hash" not in {
        name
        for (name,) in _query(
            db_url,
            "select attname from pg_attribute where attrelid = 'raw.pos__sales'::regclass and not attisdropped",
        )
    }
    assert _query(db_url, "select indexname from pg_indexes where schemaname = 'raw'") == []
    write_rows(feed_dir(landing, SALES), "a.csv", _sales("a", 3))
    write_rows(feed_dir(landing, SALES), "b.csv", _sales("b", 2))
    ingest(db_url, landing)
    _assert_pages_hold_every_row(db_url)
    assert _query(db_url, "select event_id, _row_number from raw.pos__sales order by 1") == [
        ("a_0", 1),
        ("a_1", 2),
        ("a_2", 3),
        ("b_0", 1),
        ("b_1", 2),
    ]


@pytest.mark.parametrize("feed", [SALES, ORDERS], ids=lambda f: f.feed_id)
def test_ledger_figures_hold_when_rows_land_in_free_space_further_back(
    db_url: str, landing: Path, feed
) -> None:
    # The figures are read from the pages where the load started; after deletes and VACUUM,
    # PostgreSQL may put the rows further back, and the load id must find them there.
    folder = feed_dir(landing, feed, "web")
    scope = {"channel_id": "web"} if feed.path_scope else {}
    # big enough that the reused pages lie before the pages a load's rows are looked for from
    write_rows(folder, "a_old.csv", sample_rows(feed, 12_000, **scope))
    write_rows(folder, "b_last.csv", sample_rows(feed, 1, **scope, event_id="last"))
    ingest(db_url, landing)
    with psycopg.connect(db_url, autocommit=True) as conn:
        first = conn.execute(
            "select load_id from meta.file_ledger where file_path like '%a_old.csv'"
        ).fetchone()[0]
        conn.execute(f"delete from raw.{feed.raw_table} where _load_id = %s", (first,))
        conn.execute(f"vacuum raw.{feed.raw_table}")
    rows = sample_rows(feed, 50, **scope)
    for n, row in enumerate(rows):
        row["event_id"] = f"c{n}"
        row["event_ts"] = f"2026-11-0{n % 9 + 1}T10:00:00Z"
    write_rows(folder, "c_new.csv", rows)

    ingest(db_url, landing)

    figures = _query(
        db_url,
        "select l.rows_loaded, l.min_data_ts, l.max_data_ts, count(r.*), min(r.event_ts), max(r.event_ts),"
        " (min(r.ctid)::text::point)[0] < pg_relation_size('raw.{t}') / current_setting('block_size')::bigint - 1 - {margin}"
        " from meta.file_ledger l join raw.{t} r on r._load_id = l.load_id"
        " where l.file_path like '%c_new.csv' group by l.load_id".replace("{t}", feed.raw_table).replace(
            "{margin}", str(PREALLOCATED_PAGES)
        ),
    )
    (loaded, oldest, newest, count, first_ts, last_ts, reused_space) = figures[0]
    assert (loaded, oldest, newest) == (count, first_ts, last_ts) == (50, first_ts, last_ts)
    assert reused_space  # the case this test is about did happen: before the pages scanned first
    _assert_pages_hold_every_row(db_url, "%c_new.csv")  # (a_old's rows were deleted)


def _assert_pages_hold_every_row(url: str, files: str = "%") -> None:
    """Every loaded file's ledger pages hold all of its rows (what readers of a load rely on)."""
    for (feed_id,) in _query(url, "select distinct feed from meta.file_ledger where status = 'loaded'"):
        table = get_feed(*feed_id.split("/")).raw_table
        outside = _query(
            url,
            "select l.file_path, l.rows_loaded, count(r.*), l.first_page, l.end_page from meta.file_ledger l"
            f" left join raw.{table} r on r._load_id = l.load_id"
            " and (r.ctid::text::point)[0] >= l.first_page and (r.ctid::text::point)[0] < l.end_page"
            f" where l.feed = '{feed_id}' and l.status = 'loaded' and l.file_path like '{files}'"
            " group by l.load_id having count(r.*) <> l.rows_loaded",
        )
        assert outside == [], outside


def test_ledger_pages_hold_the_rows_of_every_path(db_url: str, landing: Path) -> None:
    # direct (plain and gzipped CSV, Parquet), checked (a column the registry lacks) and JSON
    # lines, for a feed with and one without a channel to check
    for feed in (SALES, ORDERS):
        scope = {"channel_id": "web"} if feed.path_scope else {}
        folder = feed_dir(landing, feed, "web")
        rows = sample_rows(feed, 30, **scope)
        write_rows(folder, "a.csv", rows[:10])
        write_rows(folder, "b.csv.gz", rows[10:15])
        write_rows(folder, "c.parquet", rows[15:20])
        write_rows(folder, "d.jsonl", rows[20:25])
        write_rows(folder, "e.csv", [{**row, "note": "extra"} for row in rows[25:]])
    report = ingest(db_url, landing)
    assert report.count("loaded") == 10, report.summary()
    assert _query(
        db_url, "select count(*) from meta.file_ledger where first_page is null or end_page is null"
    ) == [(0,)]
    _assert_pages_hold_every_row(db_url)


def test_a_loads_rows_are_found_from_its_first_block(db_url: str) -> None:
    # COPY extends a table by many pages at once and the next COPY fills the unused ones first:
    # the first block must lie at or before them (else each file's figures fall back to a scan of
    # the whole table), and not much further back (else every file scans old rows). Loads 1-3
    # share a session, as in a batch; 4 and 5 come from new sessions, as in a later run.
    columns = [c.name for c in SALES.columns]
    data = csv_text(_sales("p", 20_000), columns)
    table = sql.Identifier("raw", SALES.raw_table)
    copy_sql = sql.SQL("copy {} ({}) from stdin (format csv, header true)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    previous_last_page = None
    session = psycopg.connect(db_url, autocommit=True)
    for load_id in range(1, 6):
        if load_id > 3:
            session.close()
            session = psycopg.connect(db_url, autocommit=True)
        with session.transaction():
            session.execute("set timezone = 'UTC'")
            expressions = start_load_sql(SALES, "csv", sql.Literal(load_id))
            first_block = session.execute(
                sql.SQL("select {}").format(sql.SQL(", ").join(expressions))
            ).fetchone()[0]
            with session.cursor().copy(copy_sql) as copy:
                copy.write(data)
        found, everywhere, last_page = session.execute(
            sql.SQL(
                "select count(*) filter (where ctid >= {}::tid), count(*), max((ctid::text::point)[0])"
                " from {} where _load_id = {}"
            ).format(sql.Literal(f"({first_block},0)"), table, sql.Literal(load_id))
        ).fetchone()
        assert found == everywhere == 20_000, (load_id, first_block)
        if previous_last_page is not None:
            # PostgreSQL extends by at most 64 pages (hio.c): no reason to look further back
            assert first_block >= previous_last_page - 65, (load_id, first_block)
        previous_last_page = last_page
    session.close()


def test_json_lines_checks_and_extra_fields(db_url: str, landing: Path) -> None:
    folder = feed_dir(landing, ORDERS, "mkt_a")
    base = sample_rows(ORDERS, 3, channel_id="mkt_a")

    def lines(rows: list[dict[str, object]]) -> bytes:
        return "".join(json.dumps(r) + "\n" for r in rows).encode()

    # an extra field in one line: kept as text; the other lines get {}
    extra = [dict(r, event_id=f"x{i}") for i, r in enumerate(base)]
    extra[1]["till"] = 7
    (folder / "a_extra.jsonl").write_bytes(lines(extra))
    # a required value missing from some lines: the file is quarantined (contract section 5)
    sparse = [dict(r, event_id=f"s{i}") for i, r in enumerate(base)]
    del sparse[0]["qty"]
    (folder / "b_sparse.jsonl").write_bytes(lines(sparse))
    # ... missing from every line: the file lacks the column
    (folder / "c_no_qty.jsonl").write_bytes(lines([{k: v for k, v in r.items() if k != "qty"} for r in base]))
    # a value that does not cast, a line of another channel, a reserved field name
    (folder / "d_bad_qty.jsonl").write_bytes(lines([dict(base[0], event_id="d0"), dict(base[1], qty="two")]))
    (folder / "e_other.jsonl").write_bytes(
        lines([dict(base[0], event_id="e0"), dict(base[1], channel_id="web")])
    )
    (folder / "f_reserved.jsonl").write_bytes(lines([dict(base[0], event_id="f0", _omni_row_number=1)]))

    ingest(db_url, landing)

    ledger = _ledger(db_url)
    assert {name: status for name, (status, *_) in ledger.items()} == {
        "a_extra.jsonl": "loaded",
        "b_sparse.jsonl": "quarantined",
        "c_no_qty.jsonl": "quarantined",
        "d_bad_qty.jsonl": "quarantined",
        "e_other.jsonl": "quarantined",
        "f_reserved.jsonl": "quarantined",
    }
    assert "line 1, column qty: missing value" in ledger["b_sparse.jsonl"][2]
    assert "missing required column(s) qty" in ledger["c_no_qty.jsonl"][2]
    assert "line 2, column qty: invalid integer 'two'" in ledger["d_bad_qty.jsonl"][2]
    assert (
        "line 2: channel_id 'web' does not match the folder's channel 'mkt_a'" in ledger["e_other.jsonl"][2]
    )
    assert "reserved column name(s) _omni_row_number" in ledger["f_reserved.jsonl"][2]
    assert _query(
        db_url, "select event_id, _extra, qty, _row_number from raw.channel__orders order by 1"
    ) == [
        ("x0", {}, 1, 1),
        ("x1", {"till": "7"}, 2, 2),
        ("x2", {}, 3, 3),
    ]


def test_header_with_an_unterminated_quote_is_quarantined(db_url: str, landing: Path) -> None:
    # COPY would read such a header on to the next quote, swallowing the rows without a word.
    (feed_dir(landing, SALES) / "q.csv").write_bytes(
        b'event_id,location_id,sku,qty,"event_ts\ne1,S1,A,1,2026-11-01T00:00:00Z\ne2,S1,A,2,2026-11-01T00:00:00Z\n'
    )
    (outcome,) = ingest(db_url, landing).outcomes
    assert outcome.status == "quarantined" and "header has an unterminated quote" in (outcome.reason or "")


def test_feeds_load_in_parallel_sessions_each_in_file_order(
    db_url: str, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "LOAD_WORKERS", 2)
    opened = []
    connect = psycopg.connect
    monkeypatch.setattr(loader.psycopg, "connect", lambda *a, **k: opened.append(1) or connect(*a, **k))
    inventory = get_feed("pos", "inventory")
    for i in range(6):
        write_rows(feed_dir(landing, SALES), f"s_{i}.csv", _sales(f"s{i}", 5))
        write_rows(feed_dir(landing, inventory), f"i_{i}.csv", sample_rows(inventory, 5, location_id=f"S{i}"))
        write_rows(
            feed_dir(landing, ORDERS, "web"),
            f"o_{i}.jsonl",
            sample_rows(ORDERS, 5, channel_id="web", order_id=f"O{i}"),
        )
    seen: list[int] = []

    report = ingest(db_url, landing, on_file=lambda outcome, index, total: seen.append(index))

    assert len(opened) == 2  # the ingest's session and one more
    assert report.count("loaded") == 18, report.summary()
    assert seen == list(range(1, 19))  # reported in order, from this thread
    for feed in (SALES, inventory, ORDERS):
        paths = [
            row[0]
            for row in _query(
                db_url,
                f"select file_path from meta.file_ledger where feed = '{feed.feed_id}' order by load_id",
            )
        ]
        assert paths == sorted(paths) and len(paths) == 6, paths
    _assert_pages_hold_every_row(db_url)


def test_a_failing_session_stops_the_parallel_load(
    db_url: str, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "LOAD_WORKERS", 2)
    monkeypatch.setattr(loader, "BATCH_FILES", 2)
    inventory = get_feed("pos", "inventory")
    for i in range(4):
        write_rows(feed_dir(landing, SALES), f"s_{i}.csv", _sales(f"s{i}", 5))
        write_rows(feed_dir(landing, inventory), f"i_{i}.csv", sample_rows(inventory, 5, location_id=f"S{i}"))
    copy = loader.copy_into_raw

    def failing(conn, prepared, item, feed, target):
        if item.relative.endswith("s_2.csv"):
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return copy(conn, prepared, item, feed, target)

    monkeypatch.setattr(loader, "copy_into_raw", failing)
    with pytest.raises(psycopg.OperationalError):
        ingest(db_url, landing)
    loaded = _ledger(db_url)
    # the failing session's committed batch (s_0, s_1) stays; s_2 and later are not in the ledger
    assert {"s_0.csv", "s_1.csv"} <= set(loaded) and not {"s_2.csv", "s_3.csv"} & set(loaded), loaded

    monkeypatch.setattr(loader, "copy_into_raw", copy)
    report = ingest(db_url, landing)
    assert report.count("loaded") == 8 - len(loaded), report.summary()
    assert _query(db_url, "select count(*) from meta.file_ledger where status = 'loaded'") == [(8,)]
