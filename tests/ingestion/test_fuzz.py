"""Hostile files: every file ends loaded exactly as written or quarantined with a reason, never a crash."""

from __future__ import annotations

import csv
import io
import json
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.lib.feeds import get_feed
from orchestration.lib.loader import ingest
from tests.feed_files import feed_dir, sample_rows, write_rows

SALES = get_feed("pos", "sales")
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Text PostgreSQL can store (no NUL), including quotes, separators, line breaks, BOMs and emoji.
hostile_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=40
).filter(lambda t: t.strip() and t.strip() != "\\.")


@st.composite
def sales_rows(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(min_value=0, max_value=8))
    return [
        {
            "event_id": f"e{i}_{draw(hostile_text)}",
            "location_id": draw(hostile_text),
            "sku": draw(hostile_text),
            "qty": draw(st.integers(min_value=-(2**31), max_value=2**31 - 1)),
            "event_ts": f"2026-11-01T{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}:00Z",
        }
        for i in range(count)
    ]


def _csv_bytes(
    rows: list[dict[str, object]],
    columns: list[str],
    newline: str,
    bom: bool,
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator=newline, quoting=quoting)
    writer.writeheader()
    writer.writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode()


def _loaded_rows(url: str, load_id: int) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select event_id, location_id, sku, qty, to_char(event_ts at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            " from raw.pos__sales where _load_id = %s order by _row_number",
            (load_id,),
        ).fetchall()


def _as_tuples(rows: list[dict[str, object]]) -> list[tuple]:
    return [(r["event_id"], r["location_id"], r["sku"], r["qty"], r["event_ts"]) for r in rows]


@FUZZ
@given(
    rows=sales_rows(),
    order=st.permutations([c.name for c in SALES.columns]),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
    as_jsonl=st.booleans(),
    quote_all=st.booleans(),
)
def test_valid_hostile_text_round_trips_exactly(
    db_url: str, rows, order, newline, bom, as_jsonl, quote_all
) -> None:
    name = f"fuzz_{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp)
        folder = feed_dir(landing, SALES)
        if as_jsonl:
            data = "".join(json.dumps({k: r[k] for k in order}) + newline for r in rows).encode()
            (folder / f"{name}.jsonl").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
        else:
            if not quote_all:  # valid minimal-quoting CSV: a bare CR is only legal inside quotes
                rows = [
                    {k: v.replace("\r", " ") if isinstance(v, str) else v for k, v in r.items()} for r in rows
                ]
            quoting = csv.QUOTE_NONNUMERIC if quote_all else csv.QUOTE_MINIMAL
            (folder / f"{name}.csv").write_bytes(_csv_bytes(rows, list(order), newline, bom, quoting))
        report = ingest(db_url, landing)
    (outcome,) = report.outcomes
    if outcome.status == "duplicate":  # hypothesis replayed identical bytes
        return
    if as_jsonl and not rows:
        assert outcome.status == "quarantined" and "empty file" in outcome.reason
        return
    assert outcome.status == "loaded", outcome.reason
    assert _loaded_rows(db_url, outcome.load_id) == _as_tuples(rows)


@st.composite
def corrupted_file(draw: st.DrawFn) -> bytes:
    base = _csv_bytes(sample_rows(SALES, 5), [c.name for c in SALES.columns], "\n", False)
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "truncate", "nul", "marker", "quote", "huge"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "truncate":
            del data[at:]
        elif kind == "nul":
            data[at:at] = b"\x00"
        elif kind == "marker":
            data[at:at] = b"\n\\.\n"
        elif kind == "quote":
            data[at:at] = b'"'
        else:
            data[at:at] = b"x" * 200_000
    return bytes(data)


@FUZZ
@given(data=corrupted_file(), suffix=st.sampled_from([".csv", ".jsonl", ".csv.gz", ".parquet"]))
def test_corrupted_files_never_crash_and_never_block_good_files(
    db_url: str, data: bytes, suffix: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        landing = Path(tmp)
        folder = feed_dir(landing, SALES)
        name = f"corrupt_{uuid.uuid4().hex}{suffix}"  # unique, so hypothesis' replays are new deliveries
        (folder / name).write_bytes(data)
        good = sample_rows(SALES, 3)
        for row in good:
            row["event_id"] = f"good_{uuid.uuid4()}"
        write_rows(folder, "zz_good.csv", good)
        report = ingest(db_url, landing)
    by_name = {o.relative.rsplit("/", 1)[1]: o for o in report.outcomes}
    assert by_name["zz_good.csv"].status == "loaded"
    corrupt = by_name[name]
    assert corrupt.status in {"loaded", "quarantined", "duplicate"}
    if corrupt.status == "quarantined":
        assert corrupt.reason and corrupt.reason.startswith("pos/sales/corrupt")
    if corrupt.status == "loaded" and suffix == ".csv":
        # what loaded is every data line of the file: nothing silently cut short
        assert corrupt.rows == len(_loaded_rows(db_url, corrupt.load_id)) > 0


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_end_of_data_marker_line_quarantines_instead_of_cutting_the_file(
    db_url: str, landing: Path, newline: str
) -> None:
    body = newline.join(
        [
            "event_id,location_id,sku,qty,event_ts",
            "e1,S1,A,1,2026-11-01T00:00:00Z",
            "\\.",
            "e2,S1,A,1,2026-11-01T00:00:00Z",
            "",
        ]
    )
    (feed_dir(landing, SALES) / "cut.csv").write_bytes(body.encode())
    (outcome,) = ingest(db_url, landing).outcomes
    assert outcome.status == "quarantined" and "end-of-data marker" in outcome.reason
