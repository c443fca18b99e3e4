{#
  How long findings take to be reconciled: a cycle runs from an exception's opened (or reopened)
  transition to the next resolved transition (quality.inventory_exception_history, data time).
  Per exception type (COUNT_VARIANCE, NEGATIVE_ON_HAND, TRANSFER_OVERDUE, ...) and owner team:
  resolved cycles and their average, median and maximum duration in hours, and the cycles still
  open with their average age at as_of. Empty until the exceptions asset has run once. A table,
  rebuilt every run.
#}
{{ config(materialized='table') }}
-- depends_on: {{ ref('int_availability__as_of') }}

{%- set exceptions = source('quality', 'inventory_exceptions') -%}
{%- set history = source('quality', 'inventory_exception_history') -%}
{% if omni_exceptions_assessed() %}
with transitions as (
    select
        history.exception_id,
        history.transition,
        history.as_of,
        lead(history.transition)
            over (partition by history.exception_id order by history.history_id)
            as next_transition,
        lead(history.as_of) over (partition by history.exception_id order by history.history_id) as next_as_of
    from {{ history }} as history
),

cycles as (
    select
        exceptions.exception_type,
        exceptions.owner_team,
        transitions.as_of as detected_at,
        case when transitions.next_transition = 'resolved' then transitions.next_as_of end as resolved_at
    from transitions
    inner join {{ exceptions }} as exceptions using (exception_id)
    where transitions.transition in ('opened', 'reopened')
),

cycle_hours as (
    select
        cycles.exception_type,
        cycles.owner_team,
        cycles.resolved_at is not null as is_resolved,
        extract(epoch from coalesce(cycles.resolved_at, build_as_of.as_of) - cycles.detected_at) / 3600 as hours,
        build_as_of.as_of
    from cycles
    cross join {{ ref('int_availability__as_of') }} as build_as_of
)

select
    exception_type,
    owner_team,
    count(*) filter (where is_resolved)::integer as resolved_cycles,
    avg(hours) filter (where is_resolved)::numeric(14, 2) as avg_cycle_hours,
    (percentile_cont(0.5) within group (order by hours) filter (where is_resolved))::numeric(14, 2)
        as median_cycle_hours,
    max(hours) filter (where is_resolved)::numeric(14, 2) as max_cycle_hours,
    count(*) filter (where not is_resolved)::integer as open_cycles,
    avg(hours) filter (where not is_resolved)::numeric(14, 2) as avg_open_age_hours,
    max(as_of) as as_of
from cycle_hours
group by exception_type, owner_team
{% else %}
select
    null::text as exception_type,
    null::text as owner_team,
    null::integer as resolved_cycles,
    null::numeric(14, 2) as avg_cycle_hours,
    null::numeric(14, 2) as median_cycle_hours,
    null::numeric(14, 2) as max_cycle_hours,
    null::integer as open_cycles,
    null::numeric(14, 2) as avg_open_age_hours,
    null::timestamptz as as_of
where false
{% endif %}
