{#
  Incremental strategy `replace_scopes`: the batch holds the complete new state of every scope it
  names, so its rows replace every stored row of those scopes, including keys it no longer lists;
  rows of other scopes are not touched. Config `snapshot_scope`: the scope columns ([] = the
  whole table: any batch row replaces it).
  - Snapshot staging models: a snapshot is the full state of its scope (one location, one
    channel, or the whole feed).
  - Models recomputed per group (int_replenishment__plan, per region and sku): a group may now
    have no row at all. Config `scope_only_rows` (a predicate on batch rows) marks rows that only
    name a scope to replace; they are not stored.
#}
{% macro get_incremental_replace_scopes_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set scope = config.get('snapshot_scope') or [] -%}
    {%- set scope_only_rows = config.get('scope_only_rows') -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} as staged
    {%- if scope %}
    where ({% for c in scope %}staged.{{ c }}{{ ', ' if not loop.last }}{% endfor %}) in (
        select {{ scope | join(', ') }} from {{ batch }}
    )
    {%- else %}
    where exists (select 1 from {{ batch }})
    {%- endif %};

    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ batch }}
    {%- if scope_only_rows %}
    where not ({{ scope_only_rows }})
    {%- endif %};
{% endmacro %}
