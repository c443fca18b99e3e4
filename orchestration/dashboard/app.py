"""The Dash app: a header with the filters and the page links, one page per process area.

Each page's panels are one callback of the filters and a dcc.Interval, so every refresh queries
the marts again and a new run shows without a restart.
"""

from __future__ import annotations

from types import ModuleType
from urllib.parse import parse_qs

import dash
from dash import Dash, Input, Output, State, dcc, html

from orchestration.dashboard.pages import allocation, anomalies, exceptions, finance, operations, planning
from orchestration.dashboard.queries import PERIOD_LABELS, Filters, Reader

PAGES: tuple[ModuleType, ...] = (operations, exceptions, allocation, planning, finance, anomalies)
REFRESH_SECONDS = 30
FILTER_IDS = ("filter-period", "filter-region", "filter-channel", "filter-team")

REGIONS = "select distinct region from ops.locations where region is not null order by 1"
CHANNELS = "select channel_id from ops.allocation_accuracy order by 1"
TEAMS = "select distinct owner_team from ops.exception_backlog order by 1"


def create_app(bi_url: str, refresh_seconds: int = REFRESH_SECONDS) -> Dash:
    reader = Reader(bi_url)
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        title="omni-inventory: process intelligence",
        # The pages' containers exist only while their page is shown.
        suppress_callback_exceptions=True,
    )
    for page in PAGES:
        dash.register_page(
            page.__name__,
            path=page.PATH,
            name=page.TITLE,
            title=f"{page.TITLE} · omni-inventory",
            layout=_page_layout(page),
        )
        _register_page_callback(app, reader, page)
    # The home page shows the first page (same layout, so the same callback fills it).
    dash.register_page("home", path="/", name=PAGES[0].TITLE, layout=_page_layout(PAGES[0]))
    _register_filter_options(app, reader)
    app.layout = html.Div(
        [
            html.Header(
                [
                    html.H1("Process intelligence"),
                    html.Nav([dcc.Link(page.TITLE, href=page.PATH, id=f"nav-{page.NAME}") for page in PAGES]),
                    _filters(),
                    html.Span(id="session-user", className="session"),
                ]
            ),
            dcc.Interval(id="refresh", interval=refresh_seconds * 1000),
            dcc.Location(id="url"),
            dash.page_container,
        ],
        className="dashboard",
    )
    return app


def _page_layout(page: ModuleType) -> html.Div:
    return html.Div([html.H2(page.TITLE), html.Div(id=f"{page.NAME}-content")], id=f"page-{page.NAME}")


def _filters() -> html.Div:
    period = dcc.Dropdown(
        id="filter-period",
        options=[{"label": label, "value": value} for value, label in PERIOD_LABELS.items()],
        value="all",
        clearable=False,
    )
    others = [
        html.Label([name, dcc.Dropdown(id=f"filter-{name}", placeholder=f"all {plural}")])
        for name, plural in (("region", "regions"), ("channel", "channels"), ("team", "teams"))
    ]
    return html.Div([html.Label(["period", period]), *others], className="filters")


def _register_page_callback(app: Dash, reader: Reader, page: ModuleType) -> None:
    @app.callback(
        Output(f"{page.NAME}-content", "children"),
        *[Input(filter_id, "value") for filter_id in FILTER_IDS],
        Input("refresh", "n_intervals"),
    )
    def render(period: str | None, region: str | None, channel: str | None, team: str | None, _: int | None):
        return page.panels(reader, Filters(period or "all", region, channel, team))


def _register_filter_options(app: Dash, reader: Reader) -> None:
    """The filters' options (re-read at each refresh), and their values from the link on first load:
    /planning?region=north&period=7d opens with those filters set. One callback for both, because a
    dropdown drops a value that is not among its options yet."""

    @app.callback(
        Output("filter-region", "options"),
        Output("filter-channel", "options"),
        Output("filter-team", "options"),
        *[Output(filter_id, "value") for filter_id in FILTER_IDS],
        Output("session-user", "children"),
        Input("refresh", "n_intervals"),
        State("url", "search"),
    )
    def options(_: int | None, search: str | None):
        # The login every query runs as, shown so that anyone can see it is not the owner.
        user, _is_bi = reader.session_user()
        values: tuple[object, ...]  # dash.no_update for each filter, or the values the link asks for
        if dash.ctx.triggered_id == "refresh":
            values = (dash.no_update,) * len(FILTER_IDS)
        else:
            asked = {key: found[0] for key, found in parse_qs((search or "").lstrip("?")).items()}
            period = asked.get("period", "all")
            values = (
                period if period in PERIOD_LABELS else "all",
                asked.get("region"),
                asked.get("channel"),
                asked.get("team"),
            )
        return (
            reader.values(REGIONS, needs=("ops.locations",)),
            reader.values(CHANNELS, needs=("ops.allocation_accuracy",)),
            reader.values(TEAMS, needs=("ops.exception_backlog",)),
            *values,
            f"reading as {user}",
        )
