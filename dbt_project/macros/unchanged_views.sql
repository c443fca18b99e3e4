{#
  Views are recreated only when their definition changes. dbt's view materialization replaces
  every view on every build (create, rename, drop, contract check: a few queries and locks per
  view), which is most of what an unchanged mart costs a micro-batch. The fingerprint of what
  defines the view (compiled SQL, and the contract's columns and types) is kept as the view's
  comment; a build whose fingerprint matches leaves the view alone. --full-refresh recreates
  every view.
#}
{% materialization view, adapter='postgres' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set contract_columns = [] -%}
    {%- for column in model['columns'].values() -%}
        {%- do contract_columns.append(column['name'] ~ ' ' ~ column['data_type']) -%}
    {%- endfor -%}
    {%- set fingerprint = 'omni:definition_md5=' ~ local_md5(sql ~ '|' ~ contract_columns | join(',')) -%}
    {%- if existing_relation is not none and existing_relation.is_view and not should_full_refresh() -%}
        {%- set stored = run_query(
            "select obj_description(" ~ dbt.string_literal(this.render()) ~ "::regclass, 'pg_class')"
        ).columns[0].values()[0] -%}
        {%- if stored == fingerprint -%}
            {%- call statement('main') -%}
                select 'unchanged view {{ this }}'
            {%- endcall -%}
            {{ return({'relations': [this.incorporate(type='view')]}) }}
        {%- endif -%}
    {%- endif -%}
    {%- set built = materialization_view_default() -%}
    {%- call statement('omni_view_fingerprint') -%}
        comment on view {{ this }} is {{ dbt.string_literal(fingerprint) }}
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ return(built) }}
{% endmaterialization %}
