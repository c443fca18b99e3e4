{{ config(
    tags=['after_quality_gate'],
    incremental_strategy='delete+insert',
    unique_key=['location_id', 'sku'],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Positions held by an open blocking exception (quality.inventory_exceptions, built by Dagster
  after the first dbt step): replenishment serves their needs last and never takes stock from
  them. Stored so that int_replenishment__plan sees which holds began or lifted since its last
  build (_run_seq): a pair whose hold lifts keeps its row with is_held false. A full build starts
  from the pairs held now.
#}

with held_now as (
    select distinct
        location_id,
        sku,
        true as is_held
    from ({{ omni_open_blocking_exceptions() }}) as exceptions
    where location_id is not null and sku is not null
),

holds as (
    select
        location_id,
        sku,
        is_held
    from held_now
    {%- if is_incremental() %}
    union all
    select
        stored.location_id,
        stored.sku,
        false
    from {{ this }} as stored
    where stored.is_held
        and not exists (
            select 1 from held_now
            where held_now.location_id = stored.location_id and held_now.sku = stored.sku
        )
    {%- endif %}
),

changed as (
    {{ omni_changed_only('holds', ['location_id', 'sku'], ['is_held']) }}
)

select
    location_id,
    sku,
    is_held,
    {{ build.run_seq }}::bigint as _run_seq
from changed
