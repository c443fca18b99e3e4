{#
  Rows of a raw table that no model can use: a required value missing, or a number beyond its
  column's range (NaN and Infinity included: PostgreSQL sorts NaN above every number). The loader
  refuses such rows (docs/contract.md section 5), but rows loaded before it did stay in raw; the
  staging models skip them and stg_raw__unusable_rows lists them, so that one bad value becomes a
  quality finding (INVALID_VALUE) rather than a failed build. The rules come from the source's
  column meta, generated from the feed registry (value_required, max_abs).
#}
{% macro omni_unusable_row(relation, alias=none) -%}
    {%- set prefix = alias ~ '.' if alias else '' -%}
    {%- set conditions = [] -%}
    {%- for column in omni_source_columns(relation) -%}
        {%- if column.meta.get('value_required') -%}
            {%- do conditions.append(prefix ~ column.name ~ ' is null') -%}
        {%- endif -%}
        {%- if column.meta.get('max_abs') is not none -%}
            {%- do conditions.append('abs(' ~ prefix ~ column.name ~ ') > ' ~ column.meta['max_abs']) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if conditions -%}({{ conditions | join(' or ') }}){%- else -%}false{%- endif -%}
{%- endmacro %}


{# The columns (name, meta) of the dbt source table `relation` points at; none before execution. #}
{% macro omni_source_columns(relation) -%}
    {%- set found = [] -%}
    {%- if execute -%}
        {%- for node in graph.sources.values() -%}
            {%- if node.schema == relation.schema and node.identifier == relation.identifier -%}
                {%- for column in node.columns.values() -%}
                    {%- do found.append({'name': column.name, 'meta': column.meta}) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}
