{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[{'columns': ['sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- The item master: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='erp/items',
    relation=source('raw', 'erp__items'),
    columns=['sku', 'description as item_description', 'category', 'unit_cost', 'currency', 'status as item_status'],
    key=['sku'],
    scope=[],
) }}
