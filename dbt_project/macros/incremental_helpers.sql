{#
  Helpers of the incremental design (docs/data-model.md, "How incremental works").

  Every incremental table stamps the rows it (re)writes with `_run_seq`, the build that wrote
  them. A downstream model finds what changed upstream since its own watermark with
  `_run_seq > build.watermark` (omni_build_state), recomputes only those keys, writes only the rows whose
  values actually differ from what it holds, so an unchanged key is never rewritten and changes
  do not cascade further than they must.
#}

{#
  Distinct values of an indexed column without reading the whole table: a recursive "skip scan"
  that jumps from one value to the next through the index (PostgreSQL 16 has no native one).
#}
{% macro omni_distinct_values(relation, column) -%}
    select {{ column }} from (
        with recursive walked(value) as (
            (select {{ column }} from {{ relation }} where {{ column }} is not null order by {{ column }} limit 1)
            union all
            select (
                select {{ column }} from {{ relation }} as next_row
                where next_row.{{ column }} > walked.value
                order by next_row.{{ column }} limit 1
            )
            from walked
            where walked.value is not null
        )
        select value as {{ column }} from walked where value is not null
    ) as distinct_{{ column }}_values
{%- endmacro %}


{#
  Rows of `new_rows` (a CTE) that are new or differ from the stored row of the same key;
  in a full build, all of them.
  `previous` adds what each row replaces, for models downstream that apply differences instead
  of recomputing: {output column: [expression over `stored` (null for a new key), value in a
  full build]}.
  The stored row is looked up per new row through the key's unique index (LATERAL ... LIMIT 1).
  PostgreSQL cannot estimate how few rows a CTE of changes holds, and as a plain join it hashed
  the whole stored table for a few dozen rows (0.2-0.5 s per model and micro-batch).
#}
{% macro omni_changed_only(new_rows, key, columns, previous={}) -%}
    select new_rows.*
    {%- for name, (stored_value, full_build_value) in previous.items() %},
        {{ stored_value if is_incremental() else full_build_value }} as {{ name }}
    {%- endfor %}
    from {{ new_rows }} as new_rows
    {%- if is_incremental() %}
    left join lateral (
        select stored_row.* from {{ this }} as stored_row
        where {{ omni_match('stored_row', 'new_rows', key) }}
        limit 1
    ) as stored on true
    where stored.{{ key[0] }} is null
       or ({% for c in columns %}new_rows.{{ c }}{{ ', ' if not loop.last }}{% endfor %})
          is distinct from ({% for c in columns %}stored.{{ c }}{{ ', ' if not loop.last }}{% endfor %})
    {%- endif %}
{%- endmacro %}


{#
  Positions rewritten since the calling model's watermark, with their atp change and whether
  the row each replaced was one that model has seen (int_inventory__positions keeps
  previous_atp and previous_run_seq). A sum over positions adds atp_change when the model saw
  every replaced row of the sku, and re-sums the sku otherwise (a build it missed).
#}
{% macro omni_position_atp_changes(build) -%}
    select
        location_id,
        sku,
        atp - previous_atp as atp_change,
        previous_run_seq > {{ build.watermark }} as replaced_unseen_row
    from {{ ref('int_inventory__positions') }}
    where _run_seq > {{ build.watermark }}
{%- endmacro %}


{#
  Compile-time: has `relation` rows written after this model's watermark? Lets a model skip a
  whole-table comparison when an input did not change. Always true in a full build.
#}
{% macro omni_changed_since_watermark(relation, build) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(true) }}
    {%- endif -%}
    {%- set rows = run_query(
        "select exists (select 1 from " ~ relation ~ " where _run_seq > " ~ build.watermark ~ ")").rows -%}
    {{ return(rows[0][0] in (true, 'True', 't')) }}
{%- endmacro %}


{#
  Post-hook: a one-column index on `column`, created when the table has none. dbt creates a
  model's configured indexes only with the table, so an index added to a model later would never
  reach a table built before; this one does. Found by its column, not its name: during a full
  refresh the replaced table (and its index names) still exists when post-hooks run.
#}
{% macro omni_ensure_index(column) -%}
    do $$
    begin
        if not exists (
            select 1
            from pg_index as ix
            join pg_attribute as att on att.attrelid = ix.indrelid and att.attnum = ix.indkey[0]
            where ix.indrelid = '{{ this }}'::regclass and ix.indnatts = 1 and att.attname = '{{ column }}'
        ) then
            create index on {{ this }} ({{ column }});
        end if;
    end
    $$
{%- endmacro %}

{#
  Rows of `relation` rewritten since `watermark`, and the older rows of the skus in the CTE
  `skus_cte` (say, repriced): two index scans on `_run_seq`. The same filter written as
  `_run_seq > watermark or sku in (...)` cannot use the index and reads every row.
#}
{% macro omni_rewritten_or_repriced(relation, watermark, skus_cte) -%}
    select * from {{ relation }} where _run_seq > {{ watermark }}
    union all
    select * from {{ relation }} where _run_seq <= {{ watermark }} and sku in (select sku from {{ skus_cte }})
{%- endmacro %}
