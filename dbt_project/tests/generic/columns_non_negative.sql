{#
  Quantities the contract says can never be negative, in one scan of the model. Fails with one
  row per column that has negative values: how many rows, and the lowest value.
#}
{% test columns_non_negative(model, columns) %}
select checked.column_name, checked.negative_rows, checked.lowest
from (
    select
        {%- for column in columns %}
        count(*) filter (where {{ column }} < 0) as {{ column }}_negative,
        min({{ column }}) as {{ column }}_lowest{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}
) as negative_counts
cross join lateral (
    values
        {%- for column in columns %}
        ('{{ column }}', negative_counts.{{ column }}_negative, negative_counts.{{ column }}_lowest::numeric){{ ',' if not loop.last }}
        {%- endfor %}
) as checked (column_name, negative_rows, lowest)
where checked.negative_rows > 0
{% endtest %}
