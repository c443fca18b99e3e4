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
-- Till sales, one row per event_id; a negative sold_qty is a return at the till.
{{ omni_stage_events(
    feed_id='pos/sales',
    relation=source('raw', 'pos__sales'),
    columns=['event_id', 'location_id', 'sku', 'qty as sold_qty'],
) }}
