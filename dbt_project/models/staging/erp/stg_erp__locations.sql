{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[{'columns': ['location_id'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- The location master: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='erp/locations',
    relation=source('raw', 'erp__locations'),
    columns=['location_id', 'location_type', 'region', 'legal_entity', 'ships_to_customer', 'pickup_enabled'],
    key=['location_id'],
    scope=[],
) }}
