{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[
        {'columns': ['po_id', 'po_line'], 'unique': true},
        {'columns': ['location_id', 'sku']},
        {'columns': ['_run_seq']},
    ],
) }}
-- Open purchase order lines: one snapshot of the whole feed; the newest wins (a line that is no
-- longer listed is closed).
{{ omni_stage_snapshot(
    feed_id='erp/purchase_orders',
    relation=source('raw', 'erp__purchase_orders'),
    columns=['po_id', 'po_line', 'sku', 'location_id', 'qty_open', 'expected_date', 'unit_cost'],
    key=['po_id', 'po_line'],
    scope=[],
) }}
