{{ config(materialized='table') }}
{#
  The one-row as_of of the positions finance values: int_availability__as_of as the gated build
  found it. finance.inventory_valuation joins it, so that when the quality gate stops a run the
  valuation keeps the as_of of the figures it shows.
#}
-- depends_on: {{ ref('int_finance__position_values') }}

select as_of
from {{ ref('int_availability__as_of') }}
