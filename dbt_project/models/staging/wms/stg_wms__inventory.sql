{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=['location_id'],
    indexes=[{'columns': ['location_id', 'sku', 'stock_status'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- Warehouse stock per status bucket; one snapshot per location, the newest of each location wins.
{{ omni_stage_snapshot(
    feed_id='wms/inventory',
    relation=source('raw', 'wms__inventory'),
    columns=['location_id', 'sku', 'status as stock_status', 'qty'],
    key=['location_id', 'sku', 'stock_status'],
    scope=['location_id'],
) }}
