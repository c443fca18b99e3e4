"""The byte-level shortcuts of file_formats give what the plain rules give.

The special-word scan first searches a chunk reduced to the letters of the special words, and
Parquet timestamps are formatted once per distinct value: both only for speed, so what they
decide, and what PostgreSQL reads, must be what the plain rules give.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from orchestration.lib.feeds import get_feed
from orchestration.lib.file_formats import (
    SPECIAL_TIME_WORDS,
    SpecialWordFound,
    holds_special_word,
    timestamps_as_text,
    with_load_columns,
    without_special_time_words,
)
from orchestration.lib.loader import ingest
from tests.feed_files import feed_dir


def _plain(data: bytes) -> bool:
    lowered = data.lower()
    return any(word in lowered for word in SPECIAL_TIME_WORDS)


@pytest.mark.parametrize(
    "data",
    [
        b"web,SKU000001,286,2026-11-01T20:15:00Z\n",
        b"a,NOW,1\n",
        b"a,Yesterday,1\n",
        b"snow boots\n",
        b"no,w\n",  # the reduced chunk holds "now", the chunk does not
        b"e-p-o-c-h,allball s\n",
        b"ALLBALLS",
        b"inf\xc3\xa9inity,\xe2\x82\xacnow",
        b"",
    ],
)
def test_the_special_word_scan_agrees_with_lowering_and_searching(data: bytes) -> None:
    assert holds_special_word(data) == _plain(data)


def test_the_special_word_scan_agrees_on_random_text() -> None:
    # Letters of the words, in both cases, mixed with bytes the reduced chunk drops.
    alphabet = b"nowtdaymrespchiflbNOWTDAYMRESPCHIFLB,;: 0\n\x00\xff\xc3-"
    generator = random.Random(7)
    found = 0
    for _ in range(20_000):
        data = bytes(generator.choice(alphabet) for _ in range(generator.randrange(0, 40)))
        assert holds_special_word(data) == _plain(data), data
        found += _plain(data)
    assert 0 < found < 20_000


def test_a_special_word_split_between_chunks_is_found() -> None:
    with pytest.raises(SpecialWordFound):
        list(without_special_time_words(iter([b"a,b,2026-11-01,NO", b"W\n"])))
    assert list(without_special_time_words(iter([b"a,no,", b"w\n"]))) == [b"a,no,", b"w\n"]


def _fields(batch: pa.RecordBatch) -> list[list[tuple[str, bool]]]:
    """The CSV of the batch as COPY reads it: per field, its text and whether it is an unquoted empty (null)."""
    buffer = io.BytesIO()
    pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=False))
    lines = buffer.getvalue().decode().splitlines()
    quoted = [[field.startswith('"') for field in line.split(",")] for line in lines]
    values = list(csv.reader(lines))
    return [
        [(value, value == "" and not q) for value, q in zip(row, marks, strict=True)]
        for row, marks in zip(values, quoted, strict=True)
    ]


@pytest.mark.parametrize(
    "kind",
    [
        pa.timestamp("us", tz="UTC"),
        pa.timestamp("ms", tz="Europe/Paris"),
        pa.timestamp("ns"),
        pa.timestamp("s"),
    ],
    ids=str,
)
def test_parquet_timestamps_are_the_text_the_csv_writer_gives(kind: pa.DataType) -> None:
    start = datetime(2026, 3, 29, 0, 30, 5, 123456)
    times = [start + timedelta(minutes=37 * (n % 5)) if n % 7 else None for n in range(50)]
    times.append(datetime(1969, 12, 31, 23, 59, 59, 1))
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array(times, type=pa.timestamp("us")).cast(kind, safe=False),
            pa.array([f"r{n}" for n in range(51)]),
        ],
        names=["t", "r"],
    )
    assert _fields(timestamps_as_text(batch)) == _fields(batch)


def test_parquet_timestamps_load_as_delivered(db_url: str, landing: Path) -> None:
    # Repeated and distinct times, in a zone other than UTC: the raw rows hold the same instants.
    feed = get_feed("erp", "book_inventory")
    count = 40
    times = [
        datetime(2026, 11, 2, tzinfo=UTC) + timedelta(seconds=n // 10, microseconds=n) for n in range(count)
    ]
    table = pa.table(
        {
            "location_id": [f"S{n % 3}" for n in range(count)],
            "sku": [f"SKU{n:05d}" for n in range(count)],
            "book_qty": pa.array(range(count), pa.int64()),
            "book_value": pa.array([None] * count, pa.decimal128(18, 2)),
            "as_of_date": pa.array([datetime(2026, 11, 1).date()] * count, pa.date32()),
            "snapshot_ts": pa.array(times, pa.timestamp("us", tz="UTC")).cast(
                pa.timestamp("us", tz="Asia/Kolkata")
            ),
        }
    )
    pq.write_table(table, feed_dir(landing, feed) / "book.parquet")
    report = ingest(db_url, landing)
    assert report.count("loaded") == 1, report.outcomes
    with psycopg.connect(db_url) as conn:
        loaded = conn.execute(f"select snapshot_ts from raw.{feed.raw_table} order by _row_number").fetchall()
    assert [row[0] for row in loaded] == times


def _records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_load_id_ends_every_record_wherever_the_chunks_split(newline: str) -> None:
    # quoted fields with separators, escaped quotes and line ends inside; a last line without
    # a line end; the csv module reads the result
    generator = random.Random(3)
    rows = [["event_id", "note", "qty"]] + [
        [f"e{i}", generator.choice(["plain", 'say ""hi""', "a,b", f"two{newline}lines", ""]), str(i)]
        for i in range(40)
    ]
    text = newline.join(
        ",".join(f'"{v}"' if generator.random() < 0.5 or any(c in v for c in ',"\n') else v for v in row)
        for row in rows
    )
    data = text.encode()
    expected = [rows[0]] + [[*(v.replace('""', '"') for v in row), "77"] for row in rows[1:]]
    for _ in range(300):
        cuts = sorted(generator.sample(range(1, len(data)), generator.randrange(1, 8)))
        chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        out = b"".join(with_load_columns(chunks, 77, header=True))
        assert _records(out) == expected, cuts
    assert b"".join(with_load_columns([b"1,2\n3,4\n"], 5, header=False)) == b"1,2,5\n3,4,5\n"


def test_a_short_row_is_reported_for_its_own_column(db_url: str, landing: Path) -> None:
    # The load id appended to a row missing its last field would land in that field.
    feed = get_feed("pos", "sales")
    folder = feed_dir(landing, feed)
    (folder / "short.csv").write_text(
        "event_id,location_id,sku,qty,event_ts\ne1,S1,SKU1,1,2026-11-01T00:00:00Z\ne2,S1,SKU1,2\n"
    )
    report = ingest(db_url, landing)
    (outcome,) = report.outcomes
    assert outcome.status == "quarantined"
    assert outcome.reason == 'pos/sales/short.csv: line 3: missing data for column "event_ts"', outcome.reason
