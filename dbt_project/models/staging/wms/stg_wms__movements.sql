{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['location_id', 'sku', 'event_ts']},
        {'columns': ['_run_seq']},
    ],
    post_hook="{{ omni_ensure_index('event_ts') }}",
) }}
-- The event_ts index (a post-hook, so that tables built before it get it too):
-- int_replenishment__daily_demand finds the events leaving its 28-day window through it.
-- Warehouse movements, one row per event_id; qty_change is the signed change of stock_status.
{{ omni_stage_events(
    feed_id='wms/movements',
    relation=source('raw', 'wms__movements'),
    columns=['event_id', 'location_id', 'sku', 'movement_type', 'qty as qty_change', 'status as stock_status', 'reference'],
) }}
