{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['location_id', 'sku', 'event_ts']},
        {'columns': ['event_ts']},
        {'columns': ['_run_seq']},
    ],
) }}
-- event_ts index: int_replenishment__daily_demand finds the events leaving its 28-day window.
-- Till sales, one row per event_id; a negative sold_qty is a return at the till.
{{ omni_stage_events(
    feed_id='pos/sales',
    relation=source('raw', 'pos__sales'),
    columns=['event_id', 'location_id', 'sku', 'qty as sold_qty'],
) }}
