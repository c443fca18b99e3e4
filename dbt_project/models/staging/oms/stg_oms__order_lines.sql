{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[
        {'columns': ['order_id', 'line_no'], 'unique': true},
        {'columns': ['location_id', 'sku']},
        {'columns': ['_run_seq']},
    ],
) }}
-- Open order lines: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='oms/order_lines',
    relation=source('raw', 'oms__order_lines'),
    columns=['order_id', 'line_no', 'channel_id', 'sku', 'location_id', 'qty_open', 'status as line_status'],
    key=['order_id', 'line_no'],
    scope=[],
) }}
