{#
  Every listed column of every row is set: one scan of the model for all of its required columns
  (a not_null test per column would scan it once per column). Fails with one row per column that
  has nulls, and how many.
#}
{% test columns_not_null(model, columns) %}
select checked.column_name, checked.null_rows
from (
    select
        {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}
) as null_counts
cross join lateral (
    values
        {%- for column in columns %}
        ('{{ column }}', null_counts.{{ column }}){{ ',' if not loop.last }}
        {%- endfor %}
) as checked (column_name, null_rows)
where checked.null_rows > 0
{% endtest %}
