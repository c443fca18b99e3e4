"""Exceptions: volume and age by type and team, the priority queue, and the clusters."""

from __future__ import annotations

import plotly.express as px
from dash.development.base_component import Component

from orchestration.dashboard.components import chart, empty, guarded, table
from orchestration.dashboard.queries import Filters, Reader, filter_params, in_region, in_team, in_window

NAME, PATH, TITLE = "exceptions", "/exceptions", "Exceptions"

BACKLOG = f"""
select exception_type, owner_team, open_exceptions, open_blocking_exceptions, resolved_exceptions,
       avg_open_age_hours, max_open_age_hours
from ops.exception_backlog
where {in_team("owner_team")}
order by open_exceptions desc, exception_type, owner_team
"""
QUEUE = f"""
select owner_team, priority_rank, priority_score, exception_type, severity, location_id, sku, feed,
       value_at_risk, units_at_risk, hours_to_stockout, first_seen_at
from quality.exception_queue
where {in_team("owner_team")} and {in_window("first_seen_at")} and {in_region("location_id")}
order by priority_score desc, owner_team, priority_rank
"""
CLUSTERS = f"""
select cluster_id, owner_team, exceptions, exception_types, likely_root_cause, summary, suggested_action,
       locations, first_seen_at
from ai.exception_clusters
where {in_team("owner_team")} and {in_window("first_seen_at")}
order by exceptions desc, cluster_id
"""
OPEN_AGES = f"""
select exception_type, owner_team,
       (extract(epoch from now() - first_seen_at) / 3600)::float8 as age_hours
from quality.inventory_exceptions
where status = 'open' and first_seen_at is not null
  and {in_team("owner_team")} and {in_window("first_seen_at")} and {in_region("location_id")}
"""
OPEN_BY_LOCATION = f"""
select location_id, owner_team, count(*)::integer as open_exceptions
from quality.inventory_exceptions
where status = 'open' and location_id is not null
  and {in_team("owner_team")} and {in_window("first_seen_at")} and {in_region("location_id")}
group by 1, 2
order by 1, 2
"""


def panels(reader: Reader, filters: Filters) -> list[Component]:
    params = filter_params(filters)
    return [
        guarded("exception-volume", "Open exceptions by type and team", lambda: _volume(reader, params)),
        guarded(
            "exception-age",
            "Age of the open exceptions by type (hours)",
            lambda: _age(reader, params),
            note="Hours since each open exception was first seen, at the wall clock.",
        ),
        guarded("exception-locations", "Open exceptions by location", lambda: _by_location(reader, params)),
        guarded(
            "priority-queue",
            "Priority queue (expected impact x urgency)",
            lambda: [
                table("priority-queue", reader.frame(QUEUE, params, needs=("quality.exception_queue",)))
            ],
        ),
        guarded(
            "exception-clusters",
            "Exception clusters and their likely root cause",
            lambda: [
                table("exception-clusters", reader.frame(CLUSTERS, params, needs=("ai.exception_clusters",)))
            ],
        ),
    ]


def _volume(reader: Reader, params: dict[str, object]) -> list[Component]:
    backlog = reader.frame(BACKLOG, params, needs=("ops.exception_backlog",))
    if backlog.empty:
        return [empty()]
    figure = px.bar(backlog, x="exception_type", y="open_exceptions", color="owner_team", barmode="stack")
    return [chart("exception-volume", figure), table("exception-backlog", backlog)]


def _age(reader: Reader, params: dict[str, object]) -> list[Component]:
    ages = reader.frame(OPEN_AGES, params, needs=("quality.inventory_exceptions", "ops.locations"))
    if ages.empty:
        return [empty("no open exceptions")]
    figure = px.box(ages, x="exception_type", y="age_hours", color="owner_team", points="all")
    figure.update_layout(yaxis_title="open for, hours")
    return [chart("exception-age", figure)]


def _by_location(reader: Reader, params: dict[str, object]) -> list[Component]:
    by_location = reader.frame(
        OPEN_BY_LOCATION, params, needs=("quality.inventory_exceptions", "ops.locations")
    )
    if by_location.empty:
        return [empty("no open exceptions at a location")]
    figure = px.bar(by_location, x="location_id", y="open_exceptions", color="owner_team", barmode="stack")
    figure.update_xaxes(type="category")
    return [chart("exception-locations", figure)]
