{{ config(
    incremental_strategy='delete+insert',
    unique_key='as_of_id',
) }}
{% set build = omni_build_state() %}
{#
  The one-row as_of of the built marts: the newest snapshot_ts/event_ts of every file loaded up
  to this build (data time). Carried here instead of on every row of the big tables so that a
  build rewrites only the rows whose figures changed; the marts views join it. It is written
  after the tables it describes, so the views never show an as_of their rows are not built for.
#}
-- depends_on: {{ ref('int_inventory__positions') }}
-- depends_on: {{ ref('int_availability__timephased') }}
-- depends_on: {{ ref('int_availability__channel_ats') }}
-- depends_on: {{ ref('int_availability__network_atp') }}

with build_as_of as (
    select
        1::smallint as as_of_id,
        {{ build.as_of }} as as_of
)

select
    as_of_id,
    as_of
from build_as_of
where
    as_of is not null
{% if is_incremental() %}
and not exists (
    select 1 from {{ this }} as stored
    where stored.as_of = build_as_of.as_of
)
{% endif %}
