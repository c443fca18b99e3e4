{#
  Incremental strategy `replace_scopes` for snapshot staging models: a snapshot is the full state
  of its scope (one location, one channel, or the whole feed), so a newer snapshot replaces every
  row of its scope, including keys it no longer lists. The batch holds the complete new state of
  each scope it touches; rows of other scopes are not touched. Config `snapshot_scope`: the scope
  columns ([] = the whole feed: any batch row replaces the table).
#}
{% macro get_incremental_replace_scopes_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set batch = arg_dict['temp_relation'] -%}
    {%- set scope = config.get('snapshot_scope') or [] -%}
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
    select {{ columns }} from {{ batch }};
{% endmacro %}
