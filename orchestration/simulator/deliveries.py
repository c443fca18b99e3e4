"""Extra deliveries of a file: the same bytes re-sent, or a broken first attempt.

Each maker turns the good file (its table and encoded bytes) into the bytes of the extra file;
makers run in the writer thread, after the good file is encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from orchestration.simulator.writers import encode

Maker = Callable[[pa.Table, bytes], bytes]

RESENT_SUFFIX = "_resent"
BROKEN_SUFFIX = {
    "malformed_missing_column": "_nocolumn",
    "malformed_bad_number": "_badnumber",
    "malformed_truncated_gzip": "_truncated",
    "malformed_wrong_encoding": "_cp1252",
}
MISSING_COLUMN = "qty"  # required in every feed a column is dropped from
# The integer column a bad number is planted in, per feed.
BAD_NUMBER_COLUMN = {"pos/sales": "qty", "wms/movements": "qty", "pos/inventory": "on_hand"}
BAD_NUMBER_TEXT = "3,5"  # a decimal comma: not an integer to any parser
TRUNCATED_SHARE = 0.6


def resent() -> Maker:
    return lambda _table, payload: payload


def broken(kind: str, feed_id: str, fmt: str) -> tuple[Maker, dict[str, Any]]:
    """The maker of a broken delivery of `kind`, and the manifest details describing it."""
    if kind == "malformed_missing_column":

        def drop_column(table: pa.Table, _payload: bytes) -> bytes:
            return encode(table.drop_columns([MISSING_COLUMN]), fmt)

        return drop_column, {"problem": "missing required column", "column": MISSING_COLUMN}
    if kind == "malformed_bad_number":
        column = BAD_NUMBER_COLUMN[feed_id]

        def plant_bad_number(table: pa.Table, _payload: bytes) -> bytes:
            values = table.column(column).cast(pa.string()).to_pylist()
            values[0] = BAD_NUMBER_TEXT
            index = table.column_names.index(column)
            return encode(table.set_column(index, column, pa.array(values, pa.string())), fmt)

        return plant_bad_number, {
            "problem": "unparseable integer",
            "column": column,
            "value": BAD_NUMBER_TEXT,
            "row": 1,
        }
    if kind == "malformed_truncated_gzip":

        def truncate(_table: pa.Table, payload: bytes) -> bytes:
            return payload[: max(20, int(len(payload) * TRUNCATED_SHARE))]

        return truncate, {"problem": "gzip stream cut short", "kept_share": TRUNCATED_SHARE}
    if kind == "malformed_wrong_encoding":

        def recode(_table: pa.Table, payload: bytes) -> bytes:
            return payload.decode("utf-8").encode("cp1252")

        return recode, {"problem": "not UTF-8", "encoding": "cp1252"}
    raise ValueError(f"not a malformed-file kind: {kind}")
