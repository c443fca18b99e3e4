{#
  The locations as BI filters need them: id, type, region and legal entity (int_locations__
  attributes, which the BI role cannot read). The dashboard's region filter joins through it.
  A table, rebuilt every run.
#}
{{ config(materialized='table') }}

select
    location_id,
    location_type,
    region,
    legal_entity
from {{ ref('int_locations__attributes') }}
