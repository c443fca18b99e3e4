"""Reading landing files as byte streams for COPY: headers, BOMs, gzip, Parquet to CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from orchestration.lib.feeds import Feed
from orchestration.lib.landing import CHUNK, LandingFile, open_regular, open_text_bytes

if TYPE_CHECKING:
    import pyarrow as pa

BOM = b"\xef\xbb\xbf"
# Words PostgreSQL accepts as dates/times besides ISO 8601 ('now', 'today', ...). They would make
# the same file load differently on another day, so files containing them take the checked path.
SPECIAL_TIME_WORDS = (b"now", b"today", b"tomorrow", b"yesterday", b"epoch", b"infinity", b"allballs")


class Quarantine(Exception):
    """The file cannot be loaded as delivered; the message says why, naming line and column."""


def check_header(feed: Feed, columns: list[str], reserved: tuple[str, ...] = ()) -> None:
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise Quarantine(f"header repeats column(s) {', '.join(duplicates)}")
    clashes = [c for c in columns if c in reserved or c.startswith("_omni")]
    if clashes:
        raise Quarantine(f"header uses reserved column name(s) {', '.join(clashes)}")
    missing = [c for c in feed.required_columns if c not in columns]
    if missing:
        raise Quarantine(
            f"missing required column(s) {', '.join(missing)} for feed {feed.feed_id} "
            f"(header has: {', '.join(columns) or 'nothing'})"
        )


def _rest(stream, first: bytes) -> Iterator[bytes]:
    if first:
        yield first
    while chunk := stream.read(CHUNK):
        yield chunk


def _read_header(stream) -> tuple[list[str], bytes]:
    """Header names and the bytes read so far (BOM removed); the stream continues after them."""
    head = stream.read(CHUNK)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    while b"\n" not in head:
        more = stream.read(CHUNK)
        if not more:
            break
        head += more
    if not head.strip():
        raise Quarantine("empty file: no header row")
    line = head.split(b"\n", 1)[0]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Quarantine(f"line 1: header is not UTF-8 ({error.reason} at byte {error.start})") from error
    if "\x00" in text:
        raise Quarantine("line 1: header contains a NUL byte")
    if text.count('"') % 2:
        # COPY would read the header on past the line end, to the next quote, and load nothing of
        # what it swallowed.
        raise Quarantine("line 1: header has an unterminated quote")
    try:
        names = next(csv.reader([text.rstrip("\r")]), [])
    except csv.Error as error:
        raise Quarantine(f"line 1: unreadable header ({error})") from error
    columns = [name.strip() or f"column_{i}" for i, name in enumerate(names, start=1)]
    return columns, head


@contextmanager
def csv_file(item: LandingFile) -> Iterator[tuple[list[str], Iterator[bytes]]]:
    """(header columns, the file's bytes including the header line) of a CSV file."""
    with open_text_bytes(item) as stream:
        columns, head = _read_header(stream)
        yield columns, _rest(stream, head)


@contextmanager
def jsonl_bytes(item: LandingFile) -> Iterator[Iterator[bytes]]:
    with open_text_bytes(item) as stream:
        head = stream.read(CHUNK)
        if head.startswith(BOM):
            head = head[len(BOM) :]
        yield _rest(stream, head)


def parquet_columns(item: LandingFile) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with open_regular(item.path) as handle:
            return list(pq.ParquetFile(handle).schema_arrow.names)
    except (pa.ArrowException, OSError) as error:
        raise Quarantine(f"unreadable parquet file: {error}") from error


def parquet_as_csv(
    item: LandingFile, check: Callable[[pa.RecordBatch], None] | None = None
) -> Iterator[bytes]:
    """The Parquet file's rows as header-less CSV, batch by batch (never the whole file in memory).

    `check` sees each batch as read (typed values) before it is written as CSV.
    """
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    try:
        with open_regular(item.path) as handle:
            parquet = pq.ParquetFile(handle)
            options = pa_csv.WriteOptions(include_header=False)
            for batch in parquet.iter_batches(batch_size=65536):
                if check is not None:
                    check(batch)
                buffer = io.BytesIO()
                pa_csv.write_csv(timestamps_as_text(batch), buffer, options)
                yield buffer.getvalue()
    except (pa.ArrowException, OSError) as error:
        raise Quarantine(f"unreadable parquet file: {error}") from error


def timestamps_as_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The batch with its timestamp columns as text, each distinct value formatted once.

    pyarrow's CSV writer formats every timestamp on its own, about 1.5 us a value: four fifths
    of the conversion of a book inventory file (1.24 M rows, one snapshot time: 1.9 s of 2.4 s),
    with the server waiting for the bytes. Snapshot feeds repeat few times, so the column is
    dictionary-encoded, the dictionary cast to text (the cast the writer uses: same text) and
    expanded again (2.4 s -> 0.5 s). A column of distinct times costs a hash and a take more
    than before, a few percent. The writer quotes the text where it wrote the timestamp bare;
    to COPY a quoted value is the same value, and a null is still written as an empty field.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not any(pa.types.is_timestamp(field.type) for field in batch.schema):
        return batch
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            encoded = pc.dictionary_encode(column)
            column = pc.take(pc.cast(encoded.dictionary, pa.string()), encoded.indices)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


class SpecialWordFound(Exception):
    """A chunk holds one of SPECIAL_TIME_WORDS: load the file through the checked path instead."""


def without_special_time_words(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Pass chunks through, raising SpecialWordFound as soon as one holds a special time word.

    Words in free text ("snow", "known") trip it too; that only costs the slower, checked path.
    """
    tail = b""
    longest = max(map(len, SPECIAL_TIME_WORDS))
    for chunk in chunks:
        window = tail + chunk
        if holds_special_word(window):
            raise SpecialWordFound
        tail = chunk[-longest:]
        yield chunk


def holds_special_word(data: bytes) -> bool:
    """Whether `data` holds one of SPECIAL_TIME_WORDS, in any case.

    The scan runs between a file's read and its COPY, with the server waiting: lower-casing a
    chunk and seven searches in it cost about a tenth of the COPY's own time on the server
    (3.6 ms of a 744 KB listings file). So two cheaper steps come first, each of which only says
    "none here" when that is certain:
    - a chunk without any of the letters that every special word holds one of needs nothing more;
    - else the chunk less every byte that no special word holds, lower-cased (one pass of
      bytes.translate, typically a fifth to a tenth of its size), is searched: deleting other
      bytes keeps every word that was in the chunk whole, so a word not found there is not in
      the chunk. Deleting can also join letters into a word that was not there ("no,w"), so a
      word found there is confirmed in the chunk itself (listings: 3.6 ms -> 0.95 ms a file).
    """
    if not any(letter in data for letter in _SPECIAL_WORD_LETTERS):
        return False
    reduced = data.translate(_LOWER_CASE, _NOT_IN_SPECIAL_WORDS)
    if not any(word in reduced for word in SPECIAL_TIME_WORDS):
        return False
    lowered = data.lower()
    return any(word in lowered for word in SPECIAL_TIME_WORDS)


# Every special time word holds one of these letters (now, tomorrow: w; today, yesterday,
# infinity: y; epoch: p; allballs: b), in either case; a single-byte search is a memchr.
_SPECIAL_WORD_LETTERS = tuple(bytes([c]) for c in b"wWyYpPbB")
assert all(any(letter in word for letter in _SPECIAL_WORD_LETTERS) for word in SPECIAL_TIME_WORDS)
assert all(word == word.lower() for word in SPECIAL_TIME_WORDS)
_LOWER_CASE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
# bytes.lower() lower-cases ASCII letters only, as _LOWER_CASE does: the two steps agree.
_NOT_IN_SPECIAL_WORDS = bytes(
    byte for byte in range(256) if bytes([byte]).lower() not in b"".join(SPECIAL_TIME_WORDS)
)


# A line holding only `\.` ends a COPY's data in CSV format (PostgreSQL before 18), whatever follows.
END_OF_DATA_LINES = (b"\n\\.\n", b"\n\\.\r\n", b"\r\\.\r", b"\r\\.\n")


def without_end_of_data_marker(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass chunks through, refusing a file with a `\\.` line instead of silently losing its tail."""
    tail = b"\n"  # the start of the file is a line start
    for chunk in chunks:
        # Every marker holds a backslash, which data rarely does: look for one (a memchr) first.
        if b"\\" in chunk or b"\\" in tail:
            window = tail + chunk
            if any(marker in window for marker in END_OF_DATA_LINES):
                break
        tail = (tail + chunk[-3:])[-3:]
        yield chunk
    else:
        if not any(marker in tail + b"\n" for marker in END_OF_DATA_LINES):  # a last line without newline
            return
    raise Quarantine("a line holding only '\\.' (COPY's end-of-data marker) would cut the file short")


def with_load_columns(chunks: Iterable[bytes], load_id: int, header: bool) -> Iterator[bytes]:
    """CSV records with `,<load_id>` appended: the raw table's _load_id.

    COPY computing it per row from a column default (a setting, parsed) cost about a sixth of a
    plain COPY's time on the server; appending it here costs the client, which mostly waits for
    the server, a replace per chunk. Records end at line ends outside double quotes (a quoted
    field may span lines); the line end is the header's (CRLF or LF), so the id goes before a
    record's CR. A record that is bad as delivered stays bad, on the line it was. The header, if
    any, is passed on unchanged (COPY skips it).
    """
    suffix = b",%d" % load_id
    carry = b""
    newline = b"\n"
    pending_header = header
    for chunk in chunks:
        data = carry + chunk
        if pending_header:
            end = data.find(b"\n")
            if end < 0:
                carry = data
                continue
            if end > 0 and data[end - 1 : end] == b"\r":
                newline = b"\r\n"
            yield data[: end + 1]
            data = data[end + 1 :]
            pending_header = False
        if b'"' not in data:
            last = data.rfind(newline)
            if last < 0:
                carry = data
                continue
            carry = data[last + len(newline) :]
            yield data[: last + len(newline)].replace(newline, suffix + newline)
            continue
        records, carry = split_records(data, newline)
        if records:
            yield (suffix + newline).join(records) + suffix + newline
    if carry and not pending_header:
        yield carry + suffix
    elif carry:
        yield carry


def split_records(data: bytes, newline: bytes) -> tuple[list[bytes], bytes]:
    """The complete records of `data` (without their line ends) and the incomplete rest.

    `data` starts at a record's start, outside quotes. Without a quote in it, every line end ends
    a record; else only those between quote pairs (an escaped quote, "", is a pair too).
    """
    if b'"' not in data:
        records = data.split(newline)
        return records[:-1], records[-1]
    records = []
    start = position = 0
    quoted = False
    while True:
        quote = data.find(b'"', position)
        stop = len(data) if quote < 0 else quote
        if not quoted:
            end = data.find(newline, position, stop)
            while end >= 0:
                records.append(data[start:end])
                start = end + len(newline)
                end = data.find(newline, start, stop)
        if quote < 0:
            return records, data[start:]
        quoted = not quoted
        position = quote + 1
