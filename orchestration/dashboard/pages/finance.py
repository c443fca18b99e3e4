"""Finance: reconciliation status by location, close readiness per legal entity and period."""

from __future__ import annotations

import plotly.express as px
from dash.development.base_component import Component

from orchestration.dashboard.components import chart, empty, guarded, table
from orchestration.dashboard.queries import Filters, Reader, filter_params, in_region

NAME, PATH, TITLE = "finance", "/finance", "Finance"

RECONCILIATION = f"""
select location_id, status, count(*)::integer as positions,
       coalesce(sum(abs(variance_value)), 0)::float8 as abs_variance_value
from finance.inventory_reconciliation
where {in_region("location_id")}
group by 1, 2
order by 1, 2
"""
# Close readiness is per legal entity; the region filter keeps the entities with a location there.
CLOSE = """
select period, legal_entity, gl_balance, subledger_value, variance, open_blocking_exceptions, close_ready
from finance.close_readiness
where (%(region)s::text is null
       or legal_entity in (select legal_entity from ops.locations where region = %(region)s))
order by period desc, legal_entity
"""


def panels(reader: Reader, filters: Filters) -> list[Component]:
    params = filter_params(filters)
    return [
        guarded(
            "reconciliation", "Reconciliation status by location", lambda: _reconciliation(reader, params)
        ),
        guarded(
            "close-readiness", "Close readiness per legal entity and period", lambda: _close(reader, params)
        ),
    ]


def _reconciliation(reader: Reader, params: dict[str, object]) -> list[Component]:
    status = reader.frame(RECONCILIATION, params, needs=("finance.inventory_reconciliation", "ops.locations"))
    if status.empty:
        return [empty()]
    figure = px.bar(
        status,
        x="location_id",
        y="positions",
        color="status",
        barmode="stack",
        hover_data=["abs_variance_value"],
    )
    figure.update_xaxes(type="category")
    return [chart("reconciliation", figure)]


def _close(reader: Reader, params: dict[str, object]) -> list[Component]:
    close = reader.frame(CLOSE, params, needs=("finance.close_readiness", "ops.locations"))
    if close.empty:
        return [empty()]
    close = close.assign(
        variance=close["variance"].astype(float),
        readiness=close["close_ready"].map({True: "ready", False: "not ready"}).fillna("unknown"),
        entity_period=close["legal_entity"] + " " + close["period"],
    )
    figure = px.bar(
        close, x="entity_period", y="variance", color="readiness", hover_data=["open_blocking_exceptions"]
    )
    figure.update_layout(yaxis_title="subledger - GL")
    return [chart("close-readiness", figure), table("close-readiness", close.drop(columns=["entity_period"]))]
