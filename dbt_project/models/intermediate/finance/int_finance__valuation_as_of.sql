{{ config(
    incremental_strategy='delete+insert',
    unique_key='as_of_id',
) }}
{#
  The one-row as_of of the positions finance values: int_availability__as_of as the gated build
  found it. finance.inventory_valuation joins it, so that when the quality gate stops a run the
  valuation keeps the as_of of the figures it shows. Incremental and rewritten only when as_of
  moves: a table would be replaced (and the valuation view on it dropped with it) every build.
#}
-- depends_on: {{ ref('int_finance__position_values') }}

with positions_as_of as (
    select
        as_of_id,
        as_of
    from {{ ref('int_availability__as_of') }}
)

select
    as_of_id,
    as_of
from positions_as_of
{%- if is_incremental() %}
where not exists (
        select 1 from {{ this }} as stored
        where stored.as_of = positions_as_of.as_of
    )
{%- endif %}
