{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['event_id'], 'unique': true},
        {'columns': ['reservation_id']},
        {'columns': ['_run_seq']},
    ],
) }}
-- Reservation lifecycle events, one row per event_id.
{{ omni_stage_events(
    feed_id='oms/reservations',
    relation=source('raw', 'oms__reservations'),
    columns=[
        'event_id', 'reservation_id', 'event_type', 'order_id', 'channel_id', 'location_id', 'sku',
        'qty as reserved_qty', 'expires_at',
    ],
) }}
