"""The written forms a landing file's typed values may take (contract section 5).

PostgreSQL's own input functions accept more than the contract does: `0x1F`, `0o17`, `1_000`
for integers and numerics (PostgreSQL 16+), `NaN` and `Infinity` for numerics, and for dates
and times anything its DateStyle can read (`11/01/2026` is 11 January or 1 November depending
on the server). Those forms would make the same file load differently on another server, so
every path checks the text against these patterns before PostgreSQL parses it:

- numbers are plain decimals: an optional sign, digits, for numerics an optional fraction and
  exponent (`12`, `-3`, `4.50`, `4.5e2`: Parquet writers render floats that way); the value's
  range is checked after parsing (raw_schema.value_checks);
- dates are `YYYY-MM-DD`; timestamps ISO 8601 with an optional offset (UTC without one).

The patterns are written once, in the syntax PostgreSQL (POSIX regular expressions), RE2
(pyarrow) and Python (with re.ASCII) read alike: `[0-9]` rather than `\\d`, no look-arounds.
"""

from __future__ import annotations

import re

VALUE_PATTERNS: dict[str, str] = {
    "integer": r"^\s*[+-]?[0-9]+\s*$",
    "numeric": r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$",
    "date": r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$",
    "timestamptz": (
        r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?\s*"
        r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)?\s*$"
    ),
}
# How a refusal names the rule a value broke (a constraint name: "<column>: <rule>").
VALUE_RULES: dict[str, str] = {
    "integer": "not a plain decimal integer",
    "numeric": "not a plain decimal number",
    "date": "not an ISO 8601 date",
    "timestamptz": "not an ISO 8601 timestamptz",
}
PYTHON_PATTERNS: dict[str, re.Pattern[str]] = {
    kind: re.compile(pattern, re.ASCII) for kind, pattern in VALUE_PATTERNS.items()
}
