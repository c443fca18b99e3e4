{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['channel_id', 'order_id', 'sku']},
        {'columns': ['_run_seq']},
    ],
) }}
-- Channel order events (all channels), one row per event_id.
{{ omni_stage_events(
    feed_id='channel/orders',
    relation=source('raw', 'channel__orders'),
    columns=['event_id', 'channel_id', 'order_id', 'sku', 'qty as order_qty', 'status as order_status'],
) }}
