{#
  The two staging patterns, shared by every feed's stg_ model.

  Both read only the raw rows of loads this build has not processed yet (omni_load_filter), so a
  build with no new files reads nothing and changes nothing.
#}

{# Output name of a select expression ("status as stock_status" -> "stock_status"). #}
{% macro omni_column_names(expressions) -%}
    {%- set names = [] -%}
    {%- for expression in expressions -%}
        {%- do names.append(expression.split(' as ')[-1].strip()) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{% macro omni_match(left, right, columns) -%}
    {%- for c in columns -%}{{ left }}.{{ c }} = {{ right }}.{{ c }}{{ ' and ' if not loop.last }}{%- endfor -%}
    {%- if columns | length == 0 -%}true{%- endif -%}
{%- endmacro %}


{#
  Event feeds: a repeated event_id counts once. The first delivery wins (lowest load id, then row
  number); later copies are ignored here and listed by stg_raw__duplicate_events. Incremental:
  append the batch's first deliveries of event ids not staged yet (unique index on event_id).
#}
{% macro omni_stage_events(feed_id, relation, columns) -%}
{%- set build = omni_build_state() -%}
{%- set names = omni_column_names(columns) -%}
with delivered_events as (
    select
        {{ columns | join(',\n        ') }},
        event_ts,
        _load_id,
        _row_number,
        _loaded_at
    from {{ relation }}
    where {{ omni_load_filter(feed_id, build) }}
        and not {{ omni_unusable_row(relation) }}
),

first_deliveries as (
    select distinct on (event_id) *
    from delivered_events
    order by event_id, _load_id, _row_number
)

select
    {% for n in names %}first_deliveries.{{ n }},
    {% endfor %}first_deliveries.event_ts,
    first_deliveries._load_id,
    first_deliveries._row_number,
    first_deliveries._loaded_at,
    {{ build.run_seq }}::bigint as _run_seq
from first_deliveries
{% if is_incremental() -%}
where not exists (
    select 1 from {{ this }} as staged where staged.event_id = first_deliveries.event_id
)
{%- endif %}
{%- endmacro %}


{#
  Snapshot feeds: the newest snapshot of each scope wins; an older one delivered later is ignored
  (stg_raw__snapshot_deliveries records it as out of order). A snapshot is identified by
  (scope, snapshot_ts) and may arrive in several files: rows of the same snapshot are merged. A
  key that two files deliver for the same instant keeps the row of the file whose sha256 is the
  greater (then the last row of that file): a rule of the bytes, so the result does not depend on
  which file arrived first. When the two rows differ, quality.inventory_exceptions opens a
  blocking CONFLICTING_SNAPSHOT naming both files and the one that counts (docs/quality.md).

  Incremental: for each scope in the new loads, take the newest delivered snapshot_ts; if it is
  not older than the staged one, the batch carries the scope's complete new state (the new rows,
  plus, when the same snapshot_ts was already staged, the staged keys the new files do not
  repeat), and the `replace_scopes` strategy swaps the scope's rows for it.
#}
{% macro omni_stage_snapshot(feed_id, relation, columns, key, scope) -%}
{%- set build = omni_build_state() -%}
{%- set names = omni_column_names(columns) -%}
with delivered_rows as (
    select
        {{ columns | join(',\n        ') }},
        snapshot_ts,
        _load_id,
        _row_number,
        _loaded_at
    from {{ relation }}
    where {{ omni_load_filter(feed_id, build) }}
        and not {{ omni_unusable_row(relation) }}
),

delivered_files as materialized (
    -- the feed's loads with their bytes' hash: a few rows per file, joined by hash below
    select load_id, file_hash
    from {{ source('meta', 'file_ledger') }}
    where feed = '{{ feed_id }}' and status = 'loaded'
),

ranked_rows as (
    -- window functions rather than joins of the rows with themselves: raw tables may not have
    -- statistics yet, and a misestimated join of the delivered rows with their own aggregate
    -- goes quadratic
    select
        deliveries.*,
        max(snapshot_ts) over ({% if scope %}partition by {{ scope | join(', ') }}{% endif %}) as newest_delivered_ts,
        row_number() over (
            partition by {{ key | join(', ') }}, snapshot_ts order by _file_hash desc, _row_number desc
        ) as delivery_rank
    from (
        select delivered_rows.*, delivered_files.file_hash as _file_hash
        from delivered_rows
        inner join delivered_files on delivered_rows._load_id = delivered_files.load_id
    ) as deliveries
),

newest_rows as materialized (
    select * from ranked_rows where snapshot_ts = newest_delivered_ts and delivery_rank = 1
),

{% if is_incremental() -%}
staged_snapshot_per_scope as materialized (
    -- materialized: a handful of rows, computed once whatever the planner guesses about the batch
    {%- if scope %}
    -- every staged row of a scope carries the same snapshot_ts: one index probe per scope
    select delivered.*, staged.snapshot_ts as staged_ts
    from (select distinct {{ scope | join(', ') }} from newest_rows) as delivered
    cross join lateral (
        select snapshot_ts from {{ this }} as s
        where {{ omni_match('s', 'delivered', scope) }}
        limit 1
    ) as staged
    {%- else %}
    select max(snapshot_ts) as staged_ts from {{ this }}
    {%- endif %}
),

winning_rows as (
    -- newer than what is staged, or of the same instant (another file of the same snapshot)
    -- unless the staged row of the key came from a file of greater hash
    select newest_rows.*
    from newest_rows
    left join staged_snapshot_per_scope as staged on {{ omni_match('staged', 'newest_rows', scope) }}
    where staged.staged_ts is null
        or newest_rows.snapshot_ts > staged.staged_ts
        or (
            newest_rows.snapshot_ts = staged.staged_ts
            and not exists (
                select 1
                from {{ this }} as kept
                inner join delivered_files as kept_file on kept._load_id = kept_file.load_id
                where {{ omni_match('kept', 'newest_rows', key) }}
                    and kept.snapshot_ts = newest_rows.snapshot_ts
                    and kept_file.file_hash > newest_rows._file_hash
            )
        )
),

winning_snapshots as (
    select distinct {% for c in scope %}{{ c }}, {% endfor %}snapshot_ts from winning_rows
),

carried_rows as (
    -- the same snapshot delivered again (another file of it, or a correction): keys it does not
    -- repeat stay as staged
    select staged.*
    from {{ this }} as staged
    join winning_snapshots
        on {{ omni_match('winning_snapshots', 'staged', scope) }}
        and staged.snapshot_ts = winning_snapshots.snapshot_ts
    where not exists (
        select 1 from winning_rows where {{ omni_match('winning_rows', 'staged', key) }}
    )
)
{%- else -%}
winning_rows as (
    select * from newest_rows
)
{%- endif %}

select
    {% for n in names %}{{ n }},
    {% endfor %}snapshot_ts,
    _load_id,
    _row_number,
    _loaded_at,
    {{ build.run_seq }}::bigint as _run_seq
from winning_rows
{%- if is_incremental() %}
union all
select
    {% for n in names %}{{ n }},
    {% endfor %}snapshot_ts,
    _load_id,
    _row_number,
    _loaded_at,
    {{ build.run_seq }}::bigint as _run_seq
from carried_rows
{%- endif %}
{%- endmacro %}
