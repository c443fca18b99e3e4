{#
  Custom schemas are used as-is (`staging`, `intermediate`, `marts`, later `quality`,
  `replenishment`, `finance`, `ops`) instead of dbt's default `<target_schema>_<custom>`:
  the schema names are part of the product contract (BI reads `marts.inventory_position`).
  Models without a custom schema land in the target schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
