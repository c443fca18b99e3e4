{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[
        {'columns': ['transfer_id', 'sku'], 'unique': true},
        {'columns': ['to_location_id', 'sku']},
        {'columns': ['from_location_id', 'sku']},
        {'columns': ['_run_seq']},
    ],
) }}
-- Open and recent transfers: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='erp/transfers',
    relation=source('raw', 'erp__transfers'),
    columns=[
        'transfer_id', 'sku', 'from_location_id', 'to_location_id', 'qty as transfer_qty',
        'status as transfer_status', 'shipped_at', 'expected_at', 'received_qty',
    ],
    key=['transfer_id', 'sku'],
    scope=[],
) }}
