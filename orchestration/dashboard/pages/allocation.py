"""Allocation: accuracy and oversell of the channels' published quantities (ops.allocation_accuracy)."""

from __future__ import annotations

import plotly.express as px
from dash.development.base_component import Component

from orchestration.dashboard.components import chart, empty, guarded, table
from orchestration.dashboard.queries import Filters, Reader, filter_params, in_channel

NAME, PATH, TITLE = "allocation", "/allocation", "Allocation"

ACCURACY = f"""
select channel_id, listings, accurate_listings, under_published_listings, oversold_listings, oversold_units,
       oversell_rate, published_units, ats_units, feed_accurate_listings, as_of
from ops.allocation_accuracy
where {in_channel("channel_id")}
order by channel_id
"""


def panels(reader: Reader, filters: Filters) -> list[Component]:
    params = filter_params(filters)
    return [
        guarded("allocation-accuracy", "Listings against ATS by channel", lambda: _accuracy(reader, params)),
        guarded("oversell", "Oversell by channel", lambda: _oversell(reader, params)),
    ]


def _accuracy(reader: Reader, params: dict[str, object]) -> list[Component]:
    accuracy = reader.frame(ACCURACY, params, needs=("ops.allocation_accuracy",))
    if accuracy.empty:
        return [empty()]
    long = accuracy.melt(
        id_vars="channel_id",
        value_vars=["accurate_listings", "under_published_listings", "oversold_listings"],
        var_name="listing",
        value_name="listings_count",
    )
    figure = px.bar(long, x="channel_id", y="listings_count", color="listing", barmode="stack")
    figure.update_xaxes(type="category")
    return [chart("allocation-accuracy", figure), table("allocation-accuracy", accuracy)]


def _oversell(reader: Reader, params: dict[str, object]) -> list[Component]:
    accuracy = reader.frame(ACCURACY, params, needs=("ops.allocation_accuracy",))
    if accuracy.empty:
        return [empty()]
    accuracy = accuracy.assign(oversell_rate=accuracy["oversell_rate"].astype(float))
    figure = px.bar(accuracy, x="channel_id", y="oversell_rate", text="oversold_units")
    figure.update_layout(yaxis_tickformat=".1%", yaxis_title="oversold listings / listings (label: units)")
    figure.update_xaxes(type="category")
    return [chart("oversell", figure)]
