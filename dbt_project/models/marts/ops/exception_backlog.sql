{#
  Exception volume and age by type and owner team (quality.inventory_exceptions): open, open
  blocking and resolved counts, and how long the open ones have been open - from their latest
  opened/reopened transition (quality.inventory_exception_history; first_seen_at without one) to
  the build's as_of. Data time throughout, so the same data gives the same figures. Empty until the
  exceptions asset has run once. A table, rebuilt every run.
#}
{{ config(materialized='table') }}
-- depends_on: {{ ref('int_availability__as_of') }}

{%- set exceptions = source('quality', 'inventory_exceptions') -%}
{%- set history = source('quality', 'inventory_exception_history') -%}
{% if omni_exceptions_assessed() %}
with open_since as (
    select
        exception_id,
        max(as_of) as open_since
    from {{ history }}
    where transition in ('opened', 'reopened')
    group by exception_id
),

exception_ages as (
    select
        exceptions.exception_type,
        exceptions.owner_team,
        exceptions.severity,
        exceptions.status,
        coalesce(open_since.open_since, exceptions.first_seen_at) as open_since,
        extract(epoch from build_as_of.as_of - coalesce(open_since.open_since, exceptions.first_seen_at)) / 3600
            as open_age_hours,
        build_as_of.as_of
    from {{ exceptions }} as exceptions
    left join open_since using (exception_id)
    cross join {{ ref('int_availability__as_of') }} as build_as_of
)

select
    exception_type,
    owner_team,
    count(*) filter (where status = 'open')::integer as open_exceptions,
    count(*) filter (where status = 'open' and severity = 'blocking')::integer as open_blocking_exceptions,
    count(*) filter (where status = 'resolved')::integer as resolved_exceptions,
    min(open_since) filter (where status = 'open') as oldest_open_since,
    avg(open_age_hours) filter (where status = 'open')::numeric(14, 2) as avg_open_age_hours,
    max(open_age_hours) filter (where status = 'open')::numeric(14, 2) as max_open_age_hours,
    max(as_of) as as_of
from exception_ages
group by exception_type, owner_team
{% else %}
select
    null::text as exception_type,
    null::text as owner_team,
    null::integer as open_exceptions,
    null::integer as open_blocking_exceptions,
    null::integer as resolved_exceptions,
    null::timestamptz as oldest_open_since,
    null::numeric(14, 2) as avg_open_age_hours,
    null::numeric(14, 2) as max_open_age_hours,
    null::timestamptz as as_of
where false
{% endif %}
