"""Anomalies: the open ai.anomalies with the explanation a planner can act on."""

from __future__ import annotations

import plotly.express as px
from dash.development.base_component import Component

from orchestration.dashboard.components import chart, empty, guarded, table
from orchestration.dashboard.queries import Filters, Reader, filter_params, in_channel, in_region, in_window

NAME, PATH, TITLE = "anomalies", "/anomalies", "Anomalies"

ANOMALIES = f"""
select anomaly_type, score, location_id, channel_id, sku, observed, expected, explanation, window_start,
       window_end, model
from ai.anomalies
where status = 'open'
  and {in_window("window_end")}
  and {in_region("location_id")}
  and {in_channel("channel_id")}
order by score desc, anomaly_id
"""


def panels(reader: Reader, filters: Filters) -> list[Component]:
    params = filter_params(filters)
    return [guarded("anomalies", "Open anomalies", lambda: _anomalies(reader, params))]


def _anomalies(reader: Reader, params: dict[str, object]) -> list[Component]:
    anomalies = reader.frame(ANOMALIES, params, needs=("ai.anomalies", "ops.locations"))
    if anomalies.empty:
        return [empty("no open anomaly")]
    anomalies = anomalies.assign(
        score=anomalies["score"].astype(float),
        where=anomalies["location_id"].fillna(anomalies["channel_id"]).fillna("network"),
    )
    figure = px.scatter(
        anomalies, x="where", y="score", color="anomaly_type", hover_data=["sku", "explanation"]
    )
    figure.update_xaxes(type="category")
    figure.update_layout(yaxis_range=[0, 1.05])
    explained = anomalies[
        ["anomaly_type", "score", "location_id", "channel_id", "sku", "explanation", "window_end"]
    ]
    return [chart("anomalies", figure), table("anomalies", explained)]
