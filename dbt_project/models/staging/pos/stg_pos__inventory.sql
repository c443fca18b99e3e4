{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=['location_id'],
    indexes=[{'columns': ['location_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- Store till counts; one snapshot per store, the newest of each store wins.
{{ omni_stage_snapshot(
    feed_id='pos/inventory',
    relation=source('raw', 'pos__inventory'),
    columns=['location_id', 'sku', 'on_hand', 'damaged'],
    key=['location_id', 'sku'],
    scope=['location_id'],
) }}
