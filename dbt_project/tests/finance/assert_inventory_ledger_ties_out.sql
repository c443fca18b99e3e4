{#
  The locations whose subledger does not tie out: opening + on_hand ledger movements <> closing,
  in units or in value (int_finance__ledger_tie_out computes the figures: every location in a full
  build; the locations a build touched, and those that did not tie out, in a micro-batch). In
  Dagster, a check of int_finance__ledger_tie_out.
#}

-- a singular test returns its failing rows, every column of them (AM04 cannot apply)
select *  -- noqa: AM04
from {{ ref('int_finance__ledger_tie_out') }}
where not ties_out
