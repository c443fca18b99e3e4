{#
  The incremental materialization of an existing table, with one catalog query where dbt's asks
  four. dbt's postgres incremental run reads the columns of the new rows and of the table twice
  each (to widen varchar columns, then for on_schema_change); every read builds a context of all
  macros and converts its result to an agate table, and dbt is CPU-bound between its statements:
  those reads were a fifth of a micro-batch's CPU. Our tables take their types from the casts in
  their SQL, so there is nothing to widen: under on_schema_change 'fail' a changed column stops
  the build and names itself; under 'ignore' the stored columns are written.
  Creating the table, a full refresh, and the other on_schema_change modes are dbt's own.
#}
{% materialization incremental, adapter='postgres' %}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set on_schema_change = incremental_validate_on_schema_change(
        config.get('on_schema_change'), default='ignore'
    ) -%}
    {%- if existing_relation is none or existing_relation.is_view or should_full_refresh()
          or on_schema_change not in ('fail', 'ignore') -%}
        {{ return(materialization_incremental_default()) }}
    {%- endif -%}

    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set new_rows = make_temp_relation(target_relation) -%}
    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% do run_query(get_create_table_as_sql(True, new_rows, sql)) %}
    {%- set dest_columns = omni_stored_columns_checked(new_rows, target_relation, on_schema_change) -%}

    {%- set strategy = config.get('incremental_strategy') or 'default' -%}
    {%- set strategy_sql = adapter.get_incremental_strategy_macro(context, strategy) -%}
    {%- set build_sql = strategy_sql({
        'target_relation': target_relation,
        'temp_relation': new_rows,
        'unique_key': config.get('unique_key'),
        'dest_columns': dest_columns,
        'incremental_predicates': config.get('predicates', none) or config.get('incremental_predicates', none),
    }) -%}
    {% call statement('main') %}
        {{ build_sql }}
    {% endcall %}

    {% do apply_grants(target_relation, config.get('grants'), should_revoke=should_revoke(existing_relation, False)) %}
    {% do persist_docs(target_relation, model) %}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {% do adapter.commit() %}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#
  The stored table's columns (dbt Column objects, for the incremental strategy), after checking
  in one catalog query that the new rows have the same names and types in the same order. Under
  on_schema_change 'fail' a difference stops the model and names the columns.
#}
{% macro omni_stored_columns_checked(new_rows, target_relation, on_schema_change) %}
    {%- set query -%}
        select attrelid = {{ dbt.string_literal(new_rows.render()) }}::regclass as is_new,
               attname::text,
               format_type(atttypid, atttypmod) as column_type
        from pg_attribute
        where attrelid in ({{ dbt.string_literal(new_rows.render()) }}::regclass,
                           {{ dbt.string_literal(target_relation.render()) }}::regclass)
          and attnum > 0
          and not attisdropped
        order by is_new, attnum
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- set new_columns = [] -%}
    {%- set stored_columns = [] -%}
    {%- for is_new, name, column_type in rows -%}
        {%- do (new_columns if is_new else stored_columns).append(name ~ ' ' ~ column_type) -%}
    {%- endfor -%}
    {%- if on_schema_change == 'fail' and new_columns != stored_columns -%}
        {%- set only_stored = stored_columns | reject('in', new_columns) | list -%}
        {%- set only_new = new_columns | reject('in', stored_columns) | list -%}
        {{ exceptions.raise_compiler_error(
            "The columns of " ~ target_relation ~ " no longer match its model (on_schema_change='fail'):"
            ~ "\n  only in the table: " ~ (only_stored | join(', ') or '-')
            ~ "\n  only in the model: " ~ (only_new | join(', ') or '-')
            ~ ("" if only_stored or only_new else "\n  (the same columns in another order)")
            ~ "\nRebuild it from raw: dbt build --full-refresh, or the dbt assets with full_refresh: true."
        ) }}
    {%- endif -%}
    {%- set dest_columns = [] -%}
    {%- for is_new, name, column_type in rows if not is_new -%}
        {%- do dest_columns.append(api.Column.create(name, column_type)) -%}
    {%- endfor -%}
    {{ return(dest_columns) }}
{% endmacro %}
