"""Whether a CSV file may stream straight into its raw table: every typed value in a plain form.

The direct path COPYs a file into the raw table, where PostgreSQL parses each value with its
own input function, which takes forms the contract refuses (value_forms). So the bytes are
checked on their way to COPY, column by column, and the first chunk holding a value in another
form (or that cannot be read as CSV the same way PostgreSQL reads it) stops the COPY: the file
then goes through the checked path, where PostgreSQL checks each value's text and names the line
and column of the first bad one (raw_copy). This only decides the path; it never quarantines.

Each chunk's complete records are read as CSV and only the distinct values of the typed columns
are matched (snapshot feeds repeat their clock on every row). Small pieces are read by Python's
csv module (a call of pyarrow's reader costs about 0.4 ms, more than a small file's whole COPY);
large ones by pyarrow's multi-threaded C++ reader, matched with RE2, several times faster per byte.
An empty value is left to the database: NOT NULL and the value checks of the raw table refuse it
where the contract requires one.

Reading CSV differently from PostgreSQL can only send a file to the checked path, never let a
value through: a quote inside an unquoted field (which PostgreSQL reads as opening a quoted
part) is a literal quote to both readers here, which no plain form holds, and a field or row
count that differs makes the reader fail. The row count is compared with COPY's at the end.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import TYPE_CHECKING

from orchestration.lib.feeds import Feed
from orchestration.lib.file_formats import split_records
from orchestration.lib.value_forms import PYTHON_PATTERNS, VALUE_PATTERNS

if TYPE_CHECKING:
    import pyarrow as pa

# Below this many bytes a piece is read by the csv module, else by pyarrow (about where the two
# cost the same: 0.4 ms).
PYARROW_FROM_BYTES = 16 << 10
# A record longer than this (or a file without line feeds) is not read here: the checked path.
LONGEST_RECORD = 8 << 20


class NotPlainValue(Exception):
    """A chunk holds a value in a form PostgreSQL would read but the contract does not accept."""


class PlainValueCheck:
    """Checks the CSV chunks of one file on their way to COPY (see the module doc)."""

    def __init__(self, feed: Feed, columns: list[str], header: bool) -> None:
        types = {c.name: c.type for c in feed.columns}
        self.columns = columns
        # (position in the header, column name, type) of each column to check
        self.checked = [
            (i, name, types[name]) for i, name in enumerate(columns) if types.get(name) in VALUE_PATTERNS
        ]
        self.pending_header = header
        self.rows = 0

    def chunks(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks unchanged; raises NotPlainValue at the first that holds a value not plain."""
        if not self.checked:
            yield from chunks
            return
        carry = b""
        for chunk in chunks:
            data = carry + chunk
            if b'"' in data:
                records, carry = split_records(data, b"\n")
                complete = b"\n".join(records) + b"\n" if records else b""
            else:
                end = data.rfind(b"\n") + 1
                complete, carry = data[:end], data[end:]
            if complete:
                self._check(complete)
            elif len(carry) > LONGEST_RECORD:
                raise NotPlainValue(f"no record end in {len(carry)} bytes")
            yield chunk
        if carry.strip():
            self._check(carry)

    def _check(self, piece: bytes) -> None:
        skip = 1 if self.pending_header else 0
        self.pending_header = False
        if len(piece) < PYARROW_FROM_BYTES:
            self._check_small(piece, skip)
        else:
            self._check_large(piece, skip)

    def _check_small(self, piece: bytes, skip: int) -> None:
        reader = csv.reader(io.StringIO(piece.decode("utf-8", "surrogateescape"), newline=""))
        seen: list[set[str]] = [set() for _ in self.checked]
        width = len(self.columns)
        try:
            for number, row in enumerate(reader):
                if number < skip:
                    continue
                if len(row) != width:
                    raise NotPlainValue(f"a record of {len(row)} fields")
                self.rows += 1
                for values, (position, _, _) in zip(seen, self.checked, strict=True):
                    values.add(row[position])
        except csv.Error as error:
            raise NotPlainValue(str(error)) from error
        for values, (_, name, kind) in zip(seen, self.checked, strict=True):
            pattern = PYTHON_PATTERNS[kind]
            for value in values:
                if value and not pattern.match(value):
                    raise NotPlainValue(f"{name} {value!r}")

    def _check_large(self, piece: bytes, skip: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pa_csv

        names = [name for _, name, _ in self.checked]
        try:
            table = pa_csv.read_csv(
                io.BytesIO(piece),
                read_options=pa_csv.ReadOptions(column_names=self.columns, skip_rows=skip),
                parse_options=pa_csv.ParseOptions(newlines_in_values=b'"' in piece),
                convert_options=pa_csv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    include_columns=names,
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowInvalid, ValueError) as error:  # ragged rows, bad quoting
            raise NotPlainValue(str(error)) from error
        self.rows += table.num_rows
        for _, name, kind in self.checked:
            values = pc.unique(table[name])
            ok = pc.or_(pc.equal(values, ""), pc.match_substring_regex(values, VALUE_PATTERNS[kind]))
            if not pc.all(ok).as_py():
                raise NotPlainValue(f"{name}: a value not in a plain form")


def check_plain_batch(feed: Feed, batch: pa.RecordBatch) -> None:
    """Parquet: the string columns that hold numbers, dates or times (typed columns need nothing:
    their values are numbers or times already, and the range checks of the raw table see them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    types = {c.name: c.type for c in feed.columns}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        kind = types.get(name)
        if kind not in VALUE_PATTERNS or not (
            pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        ):
            continue
        values = pc.drop_null(pc.unique(column))
        ok = pc.or_(pc.equal(values, ""), pc.match_substring_regex(values, VALUE_PATTERNS[kind]))
        if len(values) and not pc.all(ok).as_py():
            raise NotPlainValue(f"{name}: a value not in a plain form")
