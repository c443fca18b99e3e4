{{ config(
    incremental_strategy='append',
    indexes=[{'columns': ['feed', 'load_id', 'row_number'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
{% set build = omni_build_state() %}
{#
  Raw rows no model can use (macros/usable_rows.sql): skipped by staging, listed here for the
  INVALID_VALUE finding. The loader refuses such rows today, so this stays empty unless rows were
  loaded before it did. New loads only; the row itself is kept as jsonb.
#}
with unusable_rows as (
    {%- for feed_id, table in omni_raw_feeds() %}
    {%- set relation = source('raw', table) %}
    {%- set columns = omni_source_columns(relation) | map(attribute='name') | list %}
    select
        '{{ feed_id }}'::text as feed,
        raw_rows._load_id as load_id,
        raw_rows._row_number as row_number,
        {{ 'raw_rows.location_id' if 'location_id' in columns else 'null::text' }} as location_id,
        {{ 'raw_rows.sku' if 'sku' in columns else 'null::text' }} as sku,
        to_jsonb(raw_rows) - '_extra' - '_loaded_at' as raw_row
    from {{ relation }} as raw_rows
    where {{ omni_load_filter(feed_id, build, 'raw_rows._load_id') }}
        and {{ omni_unusable_row(relation, 'raw_rows') }}
    {{ 'union all' if not loop.last }}
    {%- endfor %}
)

select
    feed,
    load_id,
    row_number,
    location_id,
    sku,
    raw_row,
    {{ build.run_seq }}::bigint as _run_seq
from unusable_rows
