"""Property: whatever lands beside a good file, ingest returns, the good file loads, and every file
is loaded whole or not at all (docs/contract.md section 5).

Hypothesis generates the hostile deliveries: random bytes, other encodings, empty cells, numbers
and dates PostgreSQL would read its own way, odd names, and entries that are not regular files.
"""

from __future__ import annotations

import codecs
import itertools
import os
import threading
from pathlib import Path

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestration.lib.feeds import FEEDS_BY_ID
from orchestration.lib.loader import IngestReport, ingest
from tests.feed_files import csv_text, feed_dir, sample_rows

SALES = FEEDS_BY_ID["pos/sales"]
ITEMS = FEEDS_BY_ID["erp/items"]
ODD_VALUES = [
    "",
    "NaN",
    "Infinity",
    "-inf",
    "1e30",
    "0x1F",
    "1_000",
    "٣",
    " 7 ",
    "1.5",
    "-0",
    "'3'",
    "null",
    "\\N",
]
ODD_TIMES = [
    "11/01/2026 21:00",
    "2026-11-01",
    "2026-13-01T00:00:00Z",
    "epoch",
    "now",
    "2026-11-01T25:00",
    "2999-01-01",
]
ODD_NAMES = [
    "a b.csv",
    "ünï.csv",
    "x.csv.gz",
    "y.parquet",
    "z.jsonl",
    "CON.csv",
    "-rf.csv",
    "\\.csv",
    "e\u202e.csv",
]
_numbers = itertools.count()


def _hostile_csv(draw: st.DrawFn) -> bytes:
    rows = sample_rows(SALES, draw(st.integers(1, 4)), event_id=f"h{next(_numbers)}")
    for row in rows:
        if draw(st.booleans()):
            row["qty"] = draw(st.sampled_from(ODD_VALUES))
        if draw(st.booleans()):
            row["event_ts"] = draw(st.sampled_from(ODD_TIMES))
    text = csv_text(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]))
    return codecs.encode(text, encoding, errors="replace")


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(kind, name, content): kind is file, fifo, symlink or folder."""
    kind = draw(st.sampled_from(["file", "file", "file", "fifo", "symlink", "folder"]))
    name = draw(st.sampled_from(ODD_NAMES + [f"n{i}.csv" for i in range(3)]))
    content = draw(
        st.one_of(
            st.binary(max_size=300),
            st.builds(lambda: b""),
            st.just(b"event_id,location_id,sku,qty,event_ts\n"),
            st.just(_hostile_csv(draw)),
            st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        )
    )
    return kind, f"{next(_numbers)}_{name}", content


def _place(landing: Path, kind: str, name: str, content: bytes, outside: Path) -> None:
    path = feed_dir(landing, ITEMS if name.endswith(".parquet") else SALES) / name
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        target = outside / f"target_{name}"
        target.write_bytes(content)
        path.symlink_to(target)
    elif kind == "folder":
        path.mkdir()
        (path / "inner.csv").write_bytes(content)
    else:
        path.write_bytes(content)


def _ingest_with_timeout(url: str, landing: Path) -> IngestReport:
    done: list[IngestReport] = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            done.append(ingest(url, landing))
        except BaseException as error:  # reported below: any exception is a failed property
            failed.append(error)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not failed, repr(failed[0]) if failed else ""
    assert done, "ingest stalled"
    return done[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(deliveries(), min_size=1, max_size=3))
def test_hostile_deliveries_never_stop_a_good_file_and_nothing_is_half_loaded(
    db_url: str, landing: Path, tmp_path: Path, batch: list[tuple[str, str, bytes]]
) -> None:
    good = f"good_{next(_numbers)}.csv"
    (feed_dir(landing, SALES) / good).write_text(
        csv_text(sample_rows(SALES, 2, event_id=f"g{next(_numbers)}"))
    )
    for kind, name, content in batch:
        _place(landing, kind, name, content, tmp_path)
    report = _ingest_with_timeout(db_url, landing)
    by_name = {o.relative.rsplit("/", 1)[-1]: o for o in report.outcomes}
    assert by_name[good].status == "loaded", by_name[good].reason
    assert {o.status for o in report.outcomes} <= {"loaded", "quarantined", "duplicate", "already_processed"}
    with psycopg.connect(db_url) as conn:
        # every file is whole or absent: raw holds exactly what the ledger says was loaded
        mismatched = conn.execute(
            "select l.file_path, l.status, l.rows_loaded, count(r._load_id) from meta.file_ledger l"
            " left join raw.pos__sales r on r._load_id = l.load_id where l.feed = 'pos/sales'"
            " group by 1, 2, 3 having count(r._load_id) <> case when l.status = 'loaded' then l.rows_loaded else 0 end"
        ).fetchall()
    assert not mismatched
    # the next ingest finds nothing new: every file was settled once
    assert _ingest_with_timeout(db_url, landing).count("loaded") == 0
