"""The building blocks every page uses: a panel, a chart, a table and the not-built-yet notice."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from orchestration.dashboard.queries import RelationMissing

NOT_BUILT = "not built yet: run `omni-inventory run`"
MAX_TABLE_ROWS = 25


def panel(panel_id: str, title: str, *children: Component, note: str | None = None) -> html.Section:
    body: list[Component] = [html.H3(title)]
    if note:
        body.append(html.P(note, className="note"))
    return html.Section([*body, *children], id=f"panel-{panel_id}", className="panel")


def chart(chart_id: str, figure: go.Figure) -> dcc.Graph:
    figure.update_layout(margin={"l": 40, "r": 20, "t": 30, "b": 40}, height=340, template="plotly_white")
    return dcc.Graph(id=f"chart-{chart_id}", figure=figure, config={"displayModeBar": False})


def empty(message: str = "nothing to show for these filters") -> html.P:
    return html.P(message, className="empty")


def missing(relation: str) -> html.P:
    return html.P(f"{relation} {NOT_BUILT}", className="not-built")


def table(table_id: str, frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> html.Div:
    """The first rows of `frame` as a plain table (sorted by its query)."""
    if frame.empty:
        return html.Div(empty(), id=f"table-{table_id}")
    shown = frame.head(max_rows)
    header = html.Thead(html.Tr([html.Th(column) for column in shown.columns]))
    rows = [html.Tr([html.Td(_cell(value)) for value in row]) for row in shown.itertuples(index=False)]
    caption = f"{len(shown)} of {len(frame)} rows" if len(frame) > max_rows else f"{len(frame)} rows"
    return html.Div(
        [html.Table([header, html.Tbody(rows)], className="data"), html.P(caption, className="caption")],
        id=f"table-{table_id}",
    )


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


def guarded(
    panel_id: str, title: str, build: Callable[[], list[Component]], note: str | None = None
) -> html.Section:
    """A panel whose content `build` makes; a relation not built yet shows the notice instead."""
    try:
        children = build()
    except RelationMissing as missing_relation:
        children = [missing(missing_relation.relation)]
    return panel(panel_id, title, *children, note=note)
