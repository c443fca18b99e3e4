"""The loader against a real PostgreSQL: every feed, every format, exactly once, quarantine."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import psycopg
import pytest

from orchestration.lib.feeds import FEEDS, get_feed
from orchestration.lib.loader import ingest
from tests.feed_files import feed_dir, sample_rows, write_rows


def raw_count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"select count(*) from raw.{table}").fetchone()[0]


def ledger(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select file_path, status, rows_loaded, reason from meta.file_ledger order by file_path"
        ).fetchall()


@pytest.mark.parametrize("feed", FEEDS, ids=lambda f: f.feed_id)
def test_every_feed_loads_in_every_format(db_url: str, landing: Path, feed) -> None:
    folder = feed_dir(landing, feed)
    scope = {"channel_id": "web"} if feed.path_scope else {}
    for index, name in enumerate(["a.csv", "b.csv.gz", "c.jsonl", "d.jsonl.gz", "e.parquet"]):
        # a distinct clock per file, so no two files share bytes
        rows = sample_rows(feed, 3, **scope, **{feed.time_column: f"2026-11-0{index + 1}T10:00:00Z"})
        write_rows(folder, name, rows)

    report = ingest(db_url, landing)

    assert report.count("loaded") == 5, report.outcomes
    assert raw_count(db_url, feed.raw_table) == 15
    with psycopg.connect(db_url) as conn:
        metadata = conn.execute(
            f"select count(distinct r._load_id), min(r._row_number), max(r._row_number),"
            f" bool_and(l.file_hash is not null and l.status = 'loaded')"
            f" from raw.{feed.raw_table} as r join meta.file_ledger as l on l.load_id = r._load_id"
        ).fetchone()
    assert metadata == (5, 1, 3, True)


def test_same_bytes_load_once_whatever_the_name(db_url: str, landing: Path) -> None:
    feed = get_feed("pos", "sales")
    folder = feed_dir(landing, feed)
    original = write_rows(folder, "sales_0800.csv", sample_rows(feed, 4))
    first = ingest(db_url, landing)
    shutil.copyfile(original, folder / "sales_0800_resent.csv")
    second = ingest(db_url, landing)
    third = ingest(db_url, landing)

    assert first.count("loaded") == 1
    assert second.count("duplicate") == 1 and second.count("loaded") == 0
    assert third.outcomes == []
    assert raw_count(db_url, "pos__sales") == 4


def test_touched_file_is_not_reloaded(db_url: str, landing: Path) -> None:
    feed = get_feed("erp", "items")
    path = write_rows(feed_dir(landing, feed), "items.csv", sample_rows(feed, 2))
    ingest(db_url, landing)
    path.touch()
    again = ingest(db_url, landing)
    assert [o.status for o in again.outcomes] == ["already_processed"]
    assert ingest(db_url, landing).outcomes == []
    assert raw_count(db_url, "erp__items") == 2


def test_extra_columns_are_kept_in_raw_and_header_order_is_free(db_url: str, landing: Path) -> None:
    feed = get_feed("erp", "items")
    rows = sample_rows(feed, 2)
    for row in rows:
        row["colour"] = "red"
    columns = ["colour", *reversed([c.name for c in feed.columns])]
    write_rows(feed_dir(landing, feed), "items.csv", rows, columns)
    assert ingest(db_url, landing).count("loaded") == 1
    with psycopg.connect(db_url) as conn:
        extras = conn.execute("select _extra ->> 'colour', sku from raw.erp__items order by sku").fetchall()
    assert extras == [("red", "sku_0"), ("red", "sku_1")]


def test_optional_columns_may_be_absent(db_url: str, landing: Path) -> None:
    feed = get_feed("erp", "transfers")
    columns = [c.name for c in feed.columns if c.required]
    write_rows(feed_dir(landing, feed), "transfers.csv", sample_rows(feed, 2), columns)
    assert ingest(db_url, landing).count("loaded") == 1
    with psycopg.connect(db_url) as conn:
        assert (
            conn.execute("select count(*) from raw.erp__transfers where shipped_at is null").fetchone()[0]
            == 2
        )


def test_offsetless_timestamps_are_utc(db_url: str, landing: Path) -> None:
    feed = get_feed("pos", "sales")
    write_rows(feed_dir(landing, feed), "s.csv", sample_rows(feed, 1, event_ts="2026-11-01T10:00:00"))
    ingest(db_url, landing)
    with psycopg.connect(db_url) as conn:
        value = conn.execute(
            "select to_char(event_ts at time zone 'UTC', 'HH24:MI') from raw.pos__sales"
        ).fetchone()
    assert value == ("10:00",)


BAD_INPUTS = {
    "missing_column": (
        lambda feed: ("bad.csv", b"location_id,sku,event_ts\nS1,A,2026-11-01T00:00:00Z\n"),
        "missing required column(s) event_id, qty",
    ),
    "bad_number": (
        lambda feed: (
            "bad.csv",
            b"event_id,location_id,sku,qty,event_ts\ne1,S1,A,1,2026-11-01T00:00:00Z\n"
            b"e2,S1,A,twelve,2026-11-01T00:00:00Z\n",
        ),
        "line 3, column qty: not a plain decimal integer",
    ),
    "bad_timestamp": (
        lambda feed: (
            "bad.jsonl",
            b'{"event_id":"e1","location_id":"S1","sku":"A","qty":1,"event_ts":"yesterday"}\n',
        ),
        "line 1, column event_ts: invalid timestamptz",
    ),
    "missing_key_value": (
        lambda feed: ("bad.csv", b"event_id,location_id,sku,qty,event_ts\n,S1,A,1,2026-11-01T00:00:00Z\n"),
        "line 2: missing value in required column event_id",
    ),
    "date_word_instead_of_iso": (
        lambda feed: ("bad.csv", b"event_id,location_id,sku,qty,event_ts\ne1,S1,A,1,now\n"),
        "line 2, column event_ts: not an ISO 8601 timestamptz",
    ),
    "wrong_encoding": (
        lambda feed: (
            "bad.csv",
            "event_id,location_id,sku,qty,event_ts\ne1,Málaga,A,1,2026-11-01T00:00:00Z\n".encode("latin-1"),
        ),
        'invalid byte sequence for encoding "UTF8"',
    ),
    "truncated_gzip": (
        lambda feed: ("bad.csv.gz", gzip.compress(b"event_id,location_id,sku,qty,event_ts\n" * 200)[:40]),
        "unreadable csv file",
    ),
    "not_json": (lambda feed: ("bad.jsonl", b'{"event_id":"e1"}\n{not json\n'), "line 2: not a JSON object"),
    "empty_file": (lambda feed: ("bad.csv", b""), "empty file"),
    "corrupt_parquet": (lambda feed: ("bad.parquet", b"PAR1 this is not parquet"), "unreadable parquet file"),
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_bad_input_is_quarantined_with_reason_and_good_files_still_load(
    db_url: str, landing: Path, kind: str
) -> None:
    feed = get_feed("pos", "sales")
    folder = feed_dir(landing, feed)
    make, expected_reason = BAD_INPUTS[kind]
    name, data = make(feed)
    (folder / name).write_bytes(data)
    write_rows(folder, "good_a.csv", sample_rows(feed, 3))
    write_rows(
        folder, "zz_good_b.jsonl", [{**r, "event_id": f"z{i}"} for i, r in enumerate(sample_rows(feed, 2))]
    )

    report = ingest(db_url, landing)

    statuses = {o.relative.rsplit("/", 1)[1]: o.status for o in report.outcomes}
    assert statuses == {name: "quarantined", "good_a.csv": "loaded", "zz_good_b.jsonl": "loaded"}
    bad = next(o for o in report.outcomes if o.status == "quarantined")
    assert expected_reason in bad.reason and f"pos/sales/{name}" in bad.reason
    assert raw_count(db_url, "pos__sales") == 5
    # quarantined once, not retried on every run
    assert ingest(db_url, landing).outcomes == []


def test_unknown_feed_and_misplaced_files_are_quarantined(db_url: str, landing: Path) -> None:
    (landing / "erp" / "bogus").mkdir(parents=True)
    (landing / "erp" / "bogus" / "x.csv").write_text("a\n1\n")
    (landing / "loose.csv").write_text("a\n1\n")
    (landing / "pos" / "sales").mkdir(parents=True)
    (landing / "pos" / "sales" / "notes.txt").write_text("hello")
    (landing / "pos" / "sales" / ".in_flight.csv").write_text("partial")
    (landing / "pos" / "sales" / "writing.csv.tmp").write_text("partial")

    report = ingest(db_url, landing)

    reasons = {o.relative: o.reason for o in report.outcomes}
    assert set(reasons) == {"erp/bogus/x.csv", "loose.csv", "pos/sales/notes.txt"}
    assert "unknown feed 'erp/bogus'" in reasons["erp/bogus/x.csv"]
    assert "files belong in <source>/<feed>/<file>" in reasons["loose.csv"]
    assert "unsupported file type" in reasons["pos/sales/notes.txt"]
    assert all(o.status == "quarantined" for o in report.outcomes)


def test_channel_file_for_another_channel_is_quarantined(db_url: str, landing: Path) -> None:
    feed = get_feed("channel", "orders")
    write_rows(feed_dir(landing, feed, "mkt_a"), "o.csv", sample_rows(feed, 2, channel_id="mkt_b"))
    report = ingest(db_url, landing)
    assert report.outcomes[0].status == "quarantined"
    assert "does not match the folder's channel 'mkt_a'" in report.outcomes[0].reason


def test_hostile_names_are_quoted_not_executed(db_url: str, landing: Path) -> None:
    feed = get_feed("erp", "items")
    rows = sample_rows(feed, 1, sku="x'); drop table raw.erp__items; --")
    for row in rows:
        row['evil"); drop schema raw cascade; --'] = "1"
    write_rows(feed_dir(landing, feed), "items; drop table meta.file_ledger.csv", rows)
    report = ingest(db_url, landing)
    assert report.count("loaded") == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select sku from raw.erp__items").fetchone()[0].startswith("x');")
        assert conn.execute("select count(*) from meta.file_ledger").fetchone()[0] == 1


def test_free_text_that_looks_like_a_date_word_still_loads(db_url: str, landing: Path) -> None:
    # "snow" and "known" contain 'now': such files take the checked path and load the same.
    feed = get_feed("erp", "items")
    rows = sample_rows(feed, 3)
    rows[1]["description"] = "Snow boots, known brand"
    write_rows(feed_dir(landing, feed), "items.csv", rows)
    assert ingest(db_url, landing).count("loaded") == 1
    with psycopg.connect(db_url) as conn:
        loaded = conn.execute(
            "select _row_number, description from raw.erp__items order by _row_number"
        ).fetchall()
    assert loaded[1] == (2, "Snow boots, known brand") and [r[0] for r in loaded] == [1, 2, 3]


def test_bom_and_crlf_line_endings_load(db_url: str, landing: Path) -> None:
    feed = get_feed("pos", "sales")
    data = "event_id,location_id,sku,qty,event_ts\r\ne1,S1,A,2,2026-11-01T00:00:00Z\r\ne2,S1,B,1,2026-11-01T00:01:00Z\r\n"
    (feed_dir(landing, feed) / "s.csv").write_bytes(b"\xef\xbb\xbf" + data.encode())
    assert ingest(db_url, landing).count("loaded") == 1
    with psycopg.connect(db_url) as conn:
        assert conn.execute(
            "select event_id, sku, _row_number from raw.pos__sales order by 3"
        ).fetchall() == [
            ("e1", "A", 1),
            ("e2", "B", 2),
        ]
