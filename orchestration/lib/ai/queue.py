"""The exception queue: a priority score and a rank for every open exception (docs/ai.md).

priority_score = value at risk x urgency x severity weight, with
- value at risk: what an anomaly puts at stake (its value_at_risk: the gap between book and
  count, the spike's excess demand, the unusual movements, at standard cost), otherwise units at
  risk x unit cost;
- units at risk: the position's shortfall, reservations or on-hand, whichever is largest (or
  the rows or keys a file-level finding names; 1 when nothing is known);
- unit cost: the item's standard cost (the catalogue's average when the sku is unknown);
- urgency = 1 + 24 / hours, hours being the sooner of the predicted stock-out (atp / daily demand)
  and the end of the month's close, at least one hour: an exception a day from stock-out counts
  twice, one an hour from it 25 times;
- severity weight: 2 for blocking, 1 for warnings.
priority_rank orders each owner team's open exceptions by score (then newest, then id), so it is
unique within the team. One statement, in the database; it reads and never changes a figure.
"""

from __future__ import annotations

import psycopg

from orchestration.lib.ai.schema import BI_ROLE
from orchestration.lib.quality.schema import relation_exists

QUEUE_COLUMNS = """
    exception_id text primary key, owner_team text not null, priority_rank integer not null,
    priority_score numeric not null, exception_type text not null, severity text not null,
    feed text, location_id text, sku text, units_at_risk numeric not null, unit_cost numeric,
    hours_to_stockout numeric, hours_to_close numeric not null, first_seen_at timestamptz,
    last_seen_at timestamptz, details jsonb, value_at_risk numeric not null
"""

SCORED_SQL = """
with open_exceptions as (
    select exception_id, owner_team, exception_type, severity, feed, location_id, sku, details, first_seen_at,
           last_seen_at
    from quality.inventory_exceptions where status = 'open'
),
as_of as (
    select coalesce(max(last_seen_at), now()) as as_of from quality.inventory_exceptions
),
average_cost as (
    select avg(unit_cost) as unit_cost from {items}
),
facts as (
    select
        e.*,
        greatest(
            coalesce(p.shortfall, 0), coalesce(p.reserved, 0), abs(coalesce(p.on_hand, 0)),
            coalesce((e.details ->> 'conflicting_keys')::numeric, 0), coalesce((e.details ->> 'rows_loaded')::numeric, 0),
            coalesce(abs((e.details ->> 'observed')::numeric), 0), 1
        ) as units_at_risk,
        coalesce(i.unit_cost, (select unit_cost from average_cost)) as unit_cost,
        (e.details ->> 'value_at_risk')::numeric as anomaly_value_at_risk,
        case when d.daily_demand > 0 then greatest(p.atp, 0) / d.daily_demand * 24 end as hours_to_stockout,
        greatest(extract(epoch from date_trunc('month', a.as_of) + interval '1 month' - a.as_of) / 3600, 1)
            as hours_to_close
    from open_exceptions as e
    cross join as_of as a
    left join {positions} as p on p.location_id = e.location_id and p.sku = e.sku
    left join {demand} as d on d.location_id = e.location_id and d.sku = e.sku
    left join {items} as i on i.sku = e.sku
),
valued as (
    select facts.*, coalesce(anomaly_value_at_risk, units_at_risk * coalesce(unit_cost, 1)) as value_at_risk
    from facts
),
scored as (
    select
        valued.*,
        round(
            value_at_risk
            * (1 + 24 / greatest(least(coalesce(hours_to_stockout, hours_to_close), hours_to_close), 1))
            * case when severity = 'blocking' then 2 else 1 end,
            2
        ) as priority_score
    from valued
)
select
    exception_id, owner_team,
    row_number() over (partition by owner_team order by priority_score desc, last_seen_at desc, exception_id)
        as priority_rank,
    priority_score, exception_type, severity, feed, location_id, sku, units_at_risk, unit_cost,
    round(hours_to_stockout, 1), round(hours_to_close, 1), first_seen_at, last_seen_at, details,
    round(value_at_risk, 2)
from scored
"""


def _relation_or_empty(conn: psycopg.Connection, name: str, empty: str) -> str:
    return name if relation_exists(conn, name) else f"({empty})"


def rebuild_exception_queue(url: str) -> int:
    """Rebuild quality.exception_queue and the priority columns of open exceptions; rows queued."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('omni.exception_queue'))")
        sql = SCORED_SQL.format(
            positions=_relation_or_empty(
                conn,
                "marts.inventory_position",
                "select null::text as location_id, null::text as sku, 0 as on_hand, 0 as atp, 0 as shortfall,"
                " 0 as reserved where false",
            ),
            demand=_relation_or_empty(
                conn,
                "intermediate.int_replenishment__daily_demand",
                "select null::text as location_id, null::text as sku, 0::numeric as daily_demand where false",
            ),
            items=_relation_or_empty(
                conn,
                "staging.stg_erp__items",
                "select null::text as sku, null::numeric as unit_cost where false",
            ),
        )
        conn.execute(f"create table if not exists quality.exception_queue ({QUEUE_COLUMNS})")
        # the queue of model version 1 had no value_at_risk (the table is rebuilt below)
        conn.execute(
            "alter table quality.exception_queue add column if not exists value_at_risk numeric not null default 0"
        )
        # BI reads the queue (docs/contract.md section 5); dbt's grants cover it only from its
        # next build after the table exists.
        if conn.execute(
            "select 1 from pg_roles where rolname = %s"
            " and not has_table_privilege(rolname, 'quality.exception_queue', 'select')",
            (BI_ROLE,),
        ).fetchone():
            conn.execute(f"grant select on quality.exception_queue to {BI_ROLE}")
        conn.execute("truncate quality.exception_queue")
        conn.execute(f"insert into quality.exception_queue {sql}")
        conn.execute(
            "update quality.inventory_exceptions e set priority_score = q.priority_score, priority_rank = q.priority_rank"
            " from quality.exception_queue q where q.exception_id = e.exception_id"
            " and (e.priority_score, e.priority_rank) is distinct from (q.priority_score, q.priority_rank)"
        )
        conn.execute(
            "update quality.inventory_exceptions set priority_score = null, priority_rank = null"
            " where status = 'resolved' and priority_rank is not null"
        )
        counted = conn.execute("select count(*) from quality.exception_queue").fetchone()
        return counted[0] if counted else 0
