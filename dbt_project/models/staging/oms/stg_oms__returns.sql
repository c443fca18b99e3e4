{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['return_id']},
        {'columns': ['_run_seq']},
    ],
) }}
-- Customer return events, one row per event_id.
{{ omni_stage_events(
    feed_id='oms/returns',
    relation=source('raw', 'oms__returns'),
    columns=[
        'event_id', 'return_id', 'order_id', 'sku', 'location_id', 'qty as return_qty',
        'status as return_status', 'disposition',
    ],
) }}
