"""Operations: feed latency per feed over time against its SLA; duplicate and out-of-sequence events."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
from dash.development.base_component import Component

from orchestration.dashboard.components import chart, empty, guarded, table
from orchestration.dashboard.queries import Filters, Reader, filter_params, in_channel, in_window

NAME, PATH, TITLE = "operations", "/operations", "Operations"

LOADS = f"""
select feed, channel_id, max_data_ts, loaded_at, data_to_loaded_minutes, loaded_to_built_minutes, sla_minutes, within_sla
from ops.feed_load_latency
where {in_window("loaded_at")} and {in_channel("channel_id")}
order by max_data_ts, load_id
"""
FEEDS = f"""
select latency.feed, latency.files_loaded, latency.files_quarantined, latency.files_duplicate,
       latency.p95_data_to_loaded_minutes, latency.max_data_to_loaded_minutes,
       latency.p95_loaded_to_built_minutes, slas.sla_minutes,
       slas.loads_over_sla
from ops.feed_latency as latency
left join (
    select feed, max(sla_minutes) as sla_minutes, count(*) filter (where not within_sla) as loads_over_sla
    from ops.feed_load_latency
    where {in_window("loaded_at")} and {in_channel("channel_id")}
    group by feed
) as slas using (feed)
order by latency.feed
"""
# Events the platform saw twice or out of their order (quality.inventory_exceptions, by feed).
SEQUENCING = f"""
select coalesce(feed, 'unrouted') as feed, exception_type, count(*)::integer as exceptions
from quality.inventory_exceptions
where exception_type in ('DUPLICATE_EVENT', 'DUPLICATE_FILE', 'OUT_OF_ORDER_SNAPSHOT', 'LATE_EVENTS',
                         'CONFLICTING_SNAPSHOT')
  and {in_window("first_seen_at")}
group by 1, 2
order by 1, 2
"""


def panels(reader: Reader, filters: Filters) -> list[Component]:
    params = filter_params(filters)
    return [
        guarded(
            "feed-latency",
            "Feed latency over time against its SLA",
            lambda: _latency_over_time(reader, params),
            note="Each loaded file at its newest data time: minutes until it was loaded (log scale); dashed: the feed's SLA.",
        ),
        guarded("feed-summary", "Latency and load status per feed", lambda: _feed_summary(reader, params)),
        guarded(
            "event-sequencing",
            "Duplicate and out-of-sequence events",
            lambda: _sequencing(reader, params),
        ),
    ]


def _latency_over_time(reader: Reader, params: dict[str, object]) -> list[Component]:
    loads = reader.frame(LOADS, params, needs=("ops.feed_load_latency",))
    if loads.empty:
        return [empty()]
    loads["data_to_loaded_minutes"] = loads["data_to_loaded_minutes"].astype(float).clip(lower=0.01)
    figure = px.scatter(loads, x="max_data_ts", y="data_to_loaded_minutes", color="feed", log_y=True)
    colors = {trace.name: trace.marker.color for trace in figure.data}
    span = [loads["max_data_ts"].min(), loads["max_data_ts"].max()]
    for feed, sla in loads.dropna(subset=["sla_minutes"]).groupby("feed")["sla_minutes"].max().items():
        figure.add_trace(
            go.Scatter(
                x=span,
                y=[float(sla), float(sla)],
                mode="lines",
                line={"dash": "dash", "color": colors.get(feed)},
                name=f"{feed} SLA",
                legendgroup=feed,
                showlegend=False,
            )
        )
    figure.update_layout(yaxis_title="data → loaded, minutes", xaxis_title="data time of the file")
    return [chart("feed-latency", figure)]


def _feed_summary(reader: Reader, params: dict[str, object]) -> list[Component]:
    feeds = reader.frame(FEEDS, params, needs=("ops.feed_latency", "ops.feed_load_latency"))
    if feeds.empty:
        return [empty()]
    figure = go.Figure(
        [
            go.Bar(
                x=feeds["feed"], y=feeds["p95_data_to_loaded_minutes"].astype(float), name="p95 data → loaded"
            ),
            go.Scatter(
                x=feeds["feed"],
                y=feeds["sla_minutes"].astype(float),
                mode="markers",
                name="SLA",
                marker_symbol="line-ew-open",
                marker_size=30,
            ),
        ]
    )
    figure.update_layout(yaxis_type="log", yaxis_title="minutes")
    return [chart("feed-summary", figure), table("feed-summary", feeds)]


def _sequencing(reader: Reader, params: dict[str, object]) -> list[Component]:
    events = reader.frame(SEQUENCING, params, needs=("quality.inventory_exceptions",))
    if events.empty:
        return [empty("no duplicate or out-of-sequence events")]
    figure = px.bar(events, x="feed", y="exceptions", color="exception_type", barmode="stack")
    return [chart("event-sequencing", figure)]
