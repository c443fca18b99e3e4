{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- Replenishment policy per location and sku: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='erp/stock_policy',
    relation=source('raw', 'erp__stock_policy'),
    columns=['location_id', 'sku', 'safety_stock', 'reorder_point', 'order_up_to', 'lead_time_days'],
    key=['location_id', 'sku'],
    scope=[],
) }}
