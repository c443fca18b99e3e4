{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=['channel_id'],
    indexes=[{'columns': ['channel_id', 'sku'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- Quantities each channel publishes; one snapshot per channel, the newest of each channel wins.
{{ omni_stage_snapshot(
    feed_id='channel/listings',
    relation=source('raw', 'channel__listings'),
    columns=['channel_id', 'sku', 'published_qty'],
    key=['channel_id', 'sku'],
    scope=['channel_id'],
) }}
