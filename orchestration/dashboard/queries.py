"""Reading the marts for the dashboard: one short connection per callback, as the BI login.

Every figure is computed in SQL (the dbt marts); this module only runs queries and applies the
dashboard's filters as bound parameters. A relation that does not exist yet (a table a later
asset builds, such as ai.anomalies) is reported as missing rather than raised, so that the page
shows it and works once a run has built it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import psycopg

# Windows of the period filter, in PostgreSQL interval syntax; "all" applies no window.
PERIODS: dict[str, str | None] = {
    "all": None,
    "24h": "24 hours",
    "7d": "7 days",
    "30d": "30 days",
}
PERIOD_LABELS = {"all": "All time", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}


class RelationMissing(LookupError):
    """A relation the query reads is not built yet."""

    def __init__(self, relation: str) -> None:
        super().__init__(relation)
        self.relation = relation


@dataclass(frozen=True)
class Filters:
    """The header's filters; None (or "all" for the period) means no filter."""

    period: str = "all"
    region: str | None = None
    channel: str | None = None
    team: str | None = None

    @property
    def window(self) -> str | None:
        return PERIODS.get(self.period)


@dataclass
class Reader:
    """Runs the dashboard's queries through `url` (a login of the omni_bi role)."""

    url: str
    statement_timeout_ms: int = 15000
    _options: str = field(init=False)

    def __post_init__(self) -> None:
        self._options = f"-c statement_timeout={self.statement_timeout_ms}"

    def connect(self) -> psycopg.Connection:
        # A fresh connection per callback: nothing cached, so a new run shows at the next refresh.
        return psycopg.connect(self.url, connect_timeout=5, options=self._options, autocommit=True)

    def frame(
        self, query: str, params: dict[str, object] | None = None, *, needs: tuple[str, ...] = ()
    ) -> pd.DataFrame:
        """The query's rows; RelationMissing when one of `needs` (schema.table) does not exist."""
        with self.connect() as conn:
            for relation in needs:
                found = conn.execute("select to_regclass(%s)", (relation,)).fetchone()
                if found is None or found[0] is None:
                    raise RelationMissing(relation)
            cursor = conn.execute(query, params or {})
            columns = [column.name for column in cursor.description or ()]
            return pd.DataFrame(cursor.fetchall(), columns=columns)

    def values(self, query: str, *, needs: tuple[str, ...] = ()) -> list[str]:
        """The first column of the query, for a filter's options; [] while a relation is missing."""
        try:
            frame = self.frame(query, needs=needs)
        except RelationMissing:
            return []
        return [str(value) for value in frame.iloc[:, 0].dropna()] if not frame.empty else []

    def session_user(self) -> tuple[str, bool]:
        """The login the dashboard reads as, and whether it is a member of omni_bi."""
        with self.connect() as conn:
            row = conn.execute(
                "select session_user, pg_has_role(session_user, 'omni_bi', 'member')"
            ).fetchone()
        assert row is not None, "a select without a from clause returns one row"
        user, is_bi = row
        return str(user), bool(is_bi)


def filter_params(filters: Filters) -> dict[str, object]:
    """The bound parameters every filtered query may use (unused ones are harmless)."""
    return {
        "window": filters.window,
        "region": filters.region,
        "channel": filters.channel,
        "team": filters.team,
    }


# SQL fragments the pages combine; each is true when its filter is unset.
IN_WINDOW = "(%(window)s::interval is null or {column} >= now() - %(window)s::interval)"
IN_REGION = "(%(region)s::text is null or {column} in (select location_id from ops.locations where region = %(region)s))"
IN_CHANNEL = "(%(channel)s::text is null or {column} = %(channel)s)"
IN_TEAM = "(%(team)s::text is null or {column} = %(team)s)"


def in_window(column: str) -> str:
    return IN_WINDOW.format(column=column)


def in_region(column: str) -> str:
    return IN_REGION.format(column=column)


def in_channel(column: str) -> str:
    return IN_CHANNEL.format(column=column)


def in_team(column: str) -> str:
    return IN_TEAM.format(column=column)
