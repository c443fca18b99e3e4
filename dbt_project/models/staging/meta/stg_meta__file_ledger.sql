{{ config(materialized='view') }}
-- The load ledger as the loader writes it: one row per landing file seen (loaded, duplicate or
-- quarantined). Read by the ops and quality layers (latency, MALFORMED_FILE).

select
    load_id,
    file_path,
    file_hash,
    source,
    feed,
    channel_id,
    file_format,
    status as load_status,
    rows_loaded,
    reason,
    duplicate_of,
    min_data_ts,
    max_data_ts,
    discovered_at,
    loaded_at,
    load_seconds
from {{ source('meta', 'file_ledger') }}
