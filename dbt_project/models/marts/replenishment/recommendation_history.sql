{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='fail',
    indexes=[{'columns': ['recommendation_key', 'run_seq']}, {'columns': ['recorded_at']}],
) }}
{% set build = omni_build_state() %}
{#
  What changed in the recommendations, build after build. Each build compares the transfer and
  purchase recommendations it just made with the latest recorded state of each recommendation
  (key: type, receiving location, donor, sku) and appends one row per change: new, changed
  (qty, priority or status differ) or withdrawn (no longer recommended, qty 0). Unchanged
  recommendations append nothing; rows are never rewritten (append-only, full_refresh disabled).
  The state at any time is the latest row per key up to then, unless it is `withdrawn`.
#}

with current_recommendations as (
    select
        'transfer' as recommendation_type,
        to_location_id as location_id,
        from_location_id,
        sku,
        qty,
        priority,
        status,
        reason
    from {{ ref('transfer_recommendations') }}
    union all
    select
        'purchase',
        location_id,
        null,
        sku,
        qty,
        priority,
        status,
        reason
    from {{ ref('purchase_recommendations') }}
),

current_keyed as (
    select
        recommendation_type || '|' || location_id || '|' || coalesce(from_location_id, '') || '|' || sku
            as recommendation_key,
        *
    from current_recommendations
),

{% if is_incremental() %}
latest_recorded as (
    select distinct on (recommendation_key)
        recommendation_key,
        recommendation_type,
        location_id,
        from_location_id,
        sku,
        qty,
        priority,
        status,
        change_type
    from {{ this }}
    order by recommendation_key asc, run_seq desc
),
{% else %}
latest_recorded as (
    select
        null::text as recommendation_key,
        null::text as recommendation_type,
        null::text as location_id,
        null::text as from_location_id,
        null::text as sku,
        null::integer as qty,
        null::integer as priority,
        null::text as status,
        null::text as change_type
    where false
),
{% endif %}

live_recorded as (
    select * from latest_recorded
    where change_type <> 'withdrawn'
),

changes as (
    select
        current_keyed.recommendation_key,
        current_keyed.recommendation_type,
        current_keyed.location_id,
        current_keyed.from_location_id,
        current_keyed.sku,
        case when live_recorded.recommendation_key is null then 'new' else 'changed' end as change_type,
        current_keyed.qty,
        live_recorded.qty as previous_qty,
        current_keyed.priority,
        current_keyed.status,
        current_keyed.reason
    from current_keyed
    left join live_recorded using (recommendation_key)
    where live_recorded.recommendation_key is null
        or (current_keyed.qty, current_keyed.priority, current_keyed.status)
        is distinct from (live_recorded.qty, live_recorded.priority, live_recorded.status)
    union all
    select
        live_recorded.recommendation_key,
        live_recorded.recommendation_type,
        live_recorded.location_id,
        live_recorded.from_location_id,
        live_recorded.sku,
        'withdrawn',
        0,
        live_recorded.qty,
        live_recorded.priority,
        live_recorded.status,
        'no longer recommended'
    from live_recorded
    where not exists (
            select 1 from current_keyed
            where current_keyed.recommendation_key = live_recorded.recommendation_key
        )
)

select
    changes.recommendation_key,
    changes.recommendation_type,
    changes.location_id,
    changes.from_location_id,
    changes.sku,
    changes.change_type,
    changes.qty::integer as qty,
    changes.previous_qty::integer as previous_qty,
    changes.priority::integer as priority,
    changes.status,
    changes.reason,
    build_as_of.as_of,
    '{{ run_started_at.isoformat() }}'::timestamptz as recorded_at,
    {{ build.run_seq }}::bigint as run_seq
from changes
cross join {{ ref('int_availability__as_of') }} as build_as_of
