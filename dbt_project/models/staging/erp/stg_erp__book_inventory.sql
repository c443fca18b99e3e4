{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- ERP book stock and value: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='erp/book_inventory',
    relation=source('raw', 'erp__book_inventory'),
    columns=['location_id', 'sku', 'book_qty', 'book_value', 'as_of_date as book_date'],
    key=['location_id', 'sku'],
    scope=[],
) }}
