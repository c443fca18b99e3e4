{#
  (location_id, sku) pairs with an open blocking exception. quality.inventory_exceptions is built by
  a Dagster asset (not dbt); before it first runs the table does not exist, and then no pair is
  known to be held (close_readiness separately refuses to call a period ready without it:
  omni_exceptions_assessed()). source() is called unconditionally so the lineage is recorded.
#}
{% macro omni_open_blocking_exceptions() -%}
    {%- set exceptions = source('quality', 'inventory_exceptions') -%}
    {%- if omni_exceptions_assessed() -%}
    select location_id, sku, exception_type
    from {{ exceptions }}
    where status = 'open' and severity = 'blocking'
    {%- else -%}
    select null::text as location_id, null::text as sku, null::text as exception_type
    where false
    {%- endif -%}
{%- endmacro %}


{% macro omni_exceptions_assessed() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(
        database=target.database, schema='quality', identifier='inventory_exceptions') -%}
    {{ return(relation is not none) }}
{%- endmacro %}
