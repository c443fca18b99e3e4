"""Planning: fill-rate risk (ops.fill_rate_risk) and the transfer recommendations."""

from __future__ import annotations

import plotly.express as px
from dash.development.base_component import Component

from orchestration.dashboard.components import chart, empty, guarded, table
from orchestration.dashboard.queries import Filters, Reader, filter_params, in_region

NAME, PATH, TITLE = "planning", "/planning", "Planning"

RISK = f"""
select location_id, region, location_type, sku, atp, daily_demand, lead_time_days, days_to_stockout,
       units_at_risk, value_at_risk, currency
from ops.fill_rate_risk
where {in_region("location_id")}
order by value_at_risk desc nulls last, units_at_risk desc, location_id, sku
"""
RISK_BY_LOCATION = f"""
select location_id, coalesce(region, 'unknown') as region, count(*)::integer as skus_at_risk,
       sum(units_at_risk)::integer as units_at_risk, coalesce(sum(value_at_risk), 0)::float8 as value_at_risk
from ops.fill_rate_risk
where {in_region("location_id")}
group by 1, 2
order by 1
"""
TRANSFERS = f"""
select to_location_id, from_location_id, sku, qty, priority, status, reason
from replenishment.transfer_recommendations
where {in_region("to_location_id")}
order by priority, to_location_id, sku, from_location_id
"""


def panels(reader: Reader, filters: Filters) -> list[Component]:
    params = filter_params(filters)
    return [
        guarded(
            "fill-rate-risk",
            "Fill-rate risk: value at risk by location",
            lambda: _risk_by_location(reader, params),
            note="Positions whose projected ATP falls below demand before a replenishment ordered now arrives.",
        ),
        guarded(
            "fill-rate-positions",
            "Positions projected to stock out within their lead time",
            lambda: [table("fill-rate-risk", reader.frame(RISK, params, needs=("ops.fill_rate_risk",)))],
        ),
        guarded("transfers", "Transfer recommendations", lambda: _transfers(reader, params)),
    ]


def _risk_by_location(reader: Reader, params: dict[str, object]) -> list[Component]:
    risk = reader.frame(RISK_BY_LOCATION, params, needs=("ops.fill_rate_risk", "ops.locations"))
    if risk.empty:
        return [empty("no position is projected to stock out within its lead time")]
    figure = px.bar(
        risk, x="location_id", y="value_at_risk", color="region", hover_data=["skus_at_risk", "units_at_risk"]
    )
    figure.update_xaxes(type="category")
    figure.update_layout(yaxis_title="value at risk")
    return [chart("fill-rate-risk", figure)]


def _transfers(reader: Reader, params: dict[str, object]) -> list[Component]:
    transfers = reader.frame(
        TRANSFERS, params, needs=("replenishment.transfer_recommendations", "ops.locations")
    )
    if transfers.empty:
        return [empty("no transfer recommended")]
    by_location = transfers.groupby(["to_location_id", "status"], as_index=False)["qty"].sum()
    figure = px.bar(by_location, x="to_location_id", y="qty", color="status", barmode="stack")
    figure.update_xaxes(type="category")
    figure.update_layout(yaxis_title="units to transfer in")
    return [chart("transfers", figure), table("transfers", transfers)]
