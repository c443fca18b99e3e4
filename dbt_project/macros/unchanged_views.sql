{#
  Views are recreated only when their definition changes. dbt's view materialization replaces
  every view on every build (create, rename, drop, contract check: a few queries and locks per
  view), which is most of what an unchanged mart costs a micro-batch. The fingerprint of what
  defines the view (compiled SQL, the contract's columns and types, and the descriptions that
  persist_docs writes as its comments) is kept in meta.dbt_view_fingerprints (omni_on_run_start);
  a build whose fingerprint matches leaves the view alone. --full-refresh recreates every view.
  The view's own COMMENT stays what BI tools show: its description.
#}
{% materialization view, adapter='postgres' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set defining = [sql] -%}
    {%- for column in model['columns'].values() -%}
        {%- do defining.append(column['name'] ~ ' ' ~ column['data_type'] ~ ' ' ~ column['description']) -%}
    {%- endfor -%}
    {%- do defining.append(model['description']) -%}
    {%- do defining.append(config.get('persist_docs') | string) -%}
    {%- set fingerprint = local_md5(defining | join('|')) -%}
    {%- set relation_name = dbt.string_literal(this.render()) -%}
    {%- if existing_relation is not none and existing_relation.is_view and not should_full_refresh() -%}
        {%- set stored = run_query(
            "select fingerprint from meta.dbt_view_fingerprints where relation = " ~ relation_name
            ~ " and view_oid = " ~ relation_name ~ "::regclass::oid"
        ).columns[0].values() -%}
        {%- if stored | length == 1 and stored[0] == fingerprint -%}
            {%- call statement('main') -%}
                select 'unchanged view {{ this }}'
            {%- endcall -%}
            {{ return({'relations': [this.incorporate(type='view')]}) }}
        {%- endif -%}
    {%- endif -%}
    {%- set built = materialization_view_default() -%}
    {%- call statement('omni_view_fingerprint') -%}
        insert into meta.dbt_view_fingerprints (relation, view_oid, fingerprint)
        values ({{ relation_name }}, {{ relation_name }}::regclass::oid, {{ dbt.string_literal(fingerprint) }})
        on conflict (relation) do update
        set view_oid = excluded.view_oid, fingerprint = excluded.fingerprint, built_at = clock_timestamp()
    {%- endcall -%}
    {%- do adapter.commit() -%}
    {{ return(built) }}
{% endmaterialization %}
