{{ config(
    incremental_strategy='append',
    indexes=[
        {'columns': ['feed', 'scope_value', 'snapshot_ts', 'load_id'], 'unique': true},
        {'columns': ['feed', 'scope_value', 'load_id']},
        {'columns': ['_run_seq']},
    ],
) }}
{% set build = omni_build_state() %}
{#
  Every snapshot delivery: one row per (feed, scope, snapshot_ts, file). This is where an older
  snapshot that arrived after a newer one is recorded (delivery_status = 'out_of_order'; the
  staging models ignore it) for the OUT_OF_ORDER_SNAPSHOT exception, and where the position key
  universe learns which deliveries counted.

  Order of delivery = load id order (meta.file_ledger ids grow with each load), so the status of
  a delivery never depends on how loads were batched into builds.
#}
{%- set snapshot_feeds = [
    ('erp/items', 'erp__items', "'*'"),
    ('erp/locations', 'erp__locations', "'*'"),
    ('erp/stock_policy', 'erp__stock_policy', "'*'"),
    ('erp/channel_policy', 'erp__channel_policy', "'*'"),
    ('erp/purchase_orders', 'erp__purchase_orders', "'*'"),
    ('erp/transfers', 'erp__transfers', "'*'"),
    ('erp/book_inventory', 'erp__book_inventory', "'*'"),
    ('erp/gl_balances', 'erp__gl_balances', "'*'"),
    ('wms/inventory', 'wms__inventory', 'location_id'),
    ('pos/inventory', 'pos__inventory', 'location_id'),
    ('oms/order_lines', 'oms__order_lines', "'*'"),
    ('channel/listings', 'channel__listings', 'channel_id'),
] -%}

with delivered_snapshots as (
    {%- for feed_id, table, scope in snapshot_feeds %}
    select
        '{{ feed_id }}'::text as feed,
        {{ scope }}::text as scope_value,
        snapshot_ts,
        _load_id as load_id,
        count(*)::bigint as row_count
    from {{ source('raw', table) }}
    where {{ omni_load_filter(feed_id, build) }}
    group by 1, 2, 3, 4
    {{ 'union all' if not loop.last }}
    {%- endfor %}
),

ordered_deliveries as (
    select
        delivered_snapshots.*,
        max(delivered_snapshots.snapshot_ts) over same_file as newest_in_same_file,
        max(delivered_snapshots.snapshot_ts) over earlier_files as newest_in_earlier_files_of_batch
    from delivered_snapshots
    window
        same_file as (partition by feed, scope_value, load_id),
        earlier_files as (
            partition by feed, scope_value order by load_id
            range between unbounded preceding and 1 preceding
        )
),

deliveries_with_history as (
    select
        ordered_deliveries.*,
        greatest(
            ordered_deliveries.newest_in_earlier_files_of_batch,
            {% if is_incremental() -%} recorded.newest_snapshot_ts {%- else -%} null {%- endif %}
        ) as newest_earlier_snapshot_ts
    from ordered_deliveries
    {%- if is_incremental() %}
left join lateral (
    select max(earlier.snapshot_ts) as newest_snapshot_ts
    from {{ this }} as earlier
    where earlier.feed = ordered_deliveries.feed
        and earlier.scope_value = ordered_deliveries.scope_value
        and earlier.load_id < ordered_deliveries.load_id
    ) as recorded on true
    {%- endif %}
)

select
    feed,
    scope_value,
    snapshot_ts,
    load_id,
    row_count,
    newest_earlier_snapshot_ts,
    case
        when snapshot_ts < newest_in_same_file then 'superseded_in_file'
        when snapshot_ts < newest_earlier_snapshot_ts then 'out_of_order'
        else 'accepted'
    end as delivery_status,
    {{ build.run_seq }}::bigint as _run_seq
from deliveries_with_history
