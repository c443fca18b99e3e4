{#
  The `where` of a data test, with the current build's run_seq as a literal.

  Tests of incremental tables check the rows this build wrote: `where: _run_seq = (select
  max(run_seq) from meta.dbt_runs)` (dbt_project.yml). Written so, the value is unknown when
  PostgreSQL plans the test, which then expects every row to match (after a full build all rows
  share one _run_seq) and scans the whole table instead of reading the few new rows through the
  _run_seq index. Substituted here, at compile time, the literal is planned from the column's
  statistics. dbt dispatches get_where_subquery to this override of its default.
#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set this_build = '(select max(run_seq) from meta.dbt_runs)' -%}
    {%- if where and omni_reads_build_state() and this_build in where -%}
        {%- set run_seq = run_query('select max(run_seq) from meta.dbt_runs').columns[0].values()[0] -%}
        {%- set where = where | replace(this_build, run_seq | string) -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
