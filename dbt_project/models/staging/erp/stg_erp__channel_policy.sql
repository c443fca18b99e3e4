{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[{'columns': ['channel_id'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- Allocation policy per channel: one snapshot of the whole feed; the newest wins.
-- fulfillment_location_types arrives `;`-separated; normalised here (trimmed, lower-case, sorted,
-- empty parts dropped) so that equal lists compare equal; eligibility splits it again.
{{ omni_stage_snapshot(
    feed_id='erp/channel_policy',
    relation=source('raw', 'erp__channel_policy'),
    columns=[
        'channel_id', 'channel_type', 'max_share_pct', 'channel_safety_stock',
        "(select string_agg(distinct lower(btrim(part)), ';' order by lower(btrim(part))) from unnest(string_to_array(fulfillment_location_types, ';')) as part where btrim(part) <> '') as fulfillment_location_types",
    ],
    key=['channel_id'],
    scope=[],
) }}
