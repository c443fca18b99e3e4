"""dbt in Dagster: every dbt model an asset (below its raw feed asset), every dbt test an asset check."""
