{{ config(meta={'dagster': {'ref': {'name': 'inventory_ledger'}}}) }}
{#
  The locations whose subledger does not tie out: opening + on_hand ledger movements <> closing,
  in units or in value (int_finance__ledger_tie_out computes the figures: every location in a full
  build; the locations a build touched, and those that did not tie out, in a micro-batch). Shown
  in Dagster as a check of the ledger.
#}

select *
from {{ ref('int_finance__ledger_tie_out') }}
where not ties_out
