"""SQL text for statements the loader sends once per file, built cheaply.

Composing a statement with psycopg.sql for every file (a tree of identifiers and literals,
rendered anew each time) cost more client time than a bare COPY of a small file. A template is
composed and rendered once; each use only quotes its slots' values and joins strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg import sql

# The loading session sets this, so that doubling quotes is all a string literal needs.
SESSION_SETTINGS = "set standard_conforming_strings = on"
_SLOT = re.compile(r"%\((\w+)\)s")


def literal(value: object) -> str:
    """`value` as an SQL literal (standard_conforming_strings on)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, str):
        # text cannot hold NUL; such a character can only come from a message quoting a file
        return "'" + value.replace("\x00", "\\x00").replace("'", "''") + "'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


class Template:
    """A statement with named slots (sql.Placeholder("name")), rendered to text once."""

    def __init__(self, statement: sql.Composable) -> None:
        self.parts = _SLOT.split(statement.as_string())

    def render(self, **values: object) -> str:
        parts = self.parts
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            out.append(literal(values[parts[i]]))
            out.append(parts[i + 1])
        return "".join(out)


class Prepared:
    """Templates run as server-side prepared statements of one connection, each prepared on its
    first use: parsed and planned once per session instead of once per file.

    A statement prepared with PREPARE lasts as long as the session, whatever becomes of the
    transaction, unless DEALLOCATE ALL drops it: psycopg sends that after a ROLLBACK when it has
    prepared statements of its own, so the connection must have psycopg's preparing turned off
    (prepare_threshold None).
    """

    def __init__(self, conn: psycopg.Connection, prefix: str) -> None:
        if conn.prepare_threshold is not None:
            raise ValueError("psycopg's own prepared statements would drop these: set prepare_threshold=None")
        self.conn = conn
        self.prefix = prefix
        self.names: dict[int, str] = {}

    def execute(self, template: Template, before: Sequence[str] = (), **values: object) -> psycopg.Cursor:
        """Run `before`, then `template` with `values`, in one round trip; the cursor holds its result."""
        statements = [*before, *self.statements(template, **values)]
        cursor = self.conn.execute("; ".join(statements))
        for _ in statements[1:]:
            cursor.nextset()
        return cursor

    def statements(self, template: Template, **values: object) -> list[str]:
        """The statements that run `template` with `values`: its PREPARE first if not done yet."""
        parts = template.parts
        slots = list(dict.fromkeys(parts[1::2]))
        arguments = ", ".join(literal(values[slot]) for slot in slots)
        name = self.names.get(id(template))
        if name is not None:
            return [f"execute {name}({arguments})" if slots else f"execute {name}"]
        name = f"{self.prefix}_{len(self.names)}"
        self.names[id(template)] = name
        numbered = [part if i % 2 == 0 else f"${slots.index(part) + 1}" for i, part in enumerate(parts)]
        return [
            f"prepare {name} as {''.join(numbered)}",
            f"execute {name}({arguments})" if slots else f"execute {name}",
        ]
