{{ config(meta={'dagster': {'ref': {'name': 'inventory_ledger'}}}) }}
{#
  Tie-out of the inventory subledger, per location: opening + on_hand ledger movements = closing,
  in units and in value (unit_cost of erp/items; 0 for a sku without a cost, on every side).
  - opening: the snapshot the position rolls forward from (inventory_position.source_snapshot_ts:
    the store's till count, every bucket of the warehouse snapshot; 0 without one) plus, at a till
    store, the returns awaiting inspection at that instant (ledger rows of oms/returns at or before
    the count: the till never counts that bucket);
  - movements: the on_hand ledger rows after the opening snapshot (every row without one);
  - closing: finance.inventory_valuation (on_hand at as_of).
  Returns the locations that do not tie out.

  In a `dbt build` (every Dagster run), it checks the locations the build touched: ledger rows
  posted, or position values (on_hand, cost, opening snapshot) rewritten; in a full build, that is
  every location. A location's figures change only with those, and checking the whole warehouse
  in every micro-batch read every position, snapshot row and ledger row (9.5 s at 2.44 M
  positions). `dbt test` checks every location.

  Only the ledger is a ref(): dbt selects a test with any of its parents, so a build of the
  positions alone (tests/dbt) would otherwise run it before the ledger exists. The other relations
  are named by their contract schemas; the ledger's `depends_on` on inventory_valuation makes them
  built before it.
#}

{%- set this_build = run_query('select max(run_seq) from meta.dbt_runs').columns[0].values()[0] if execute else 0 %}

with locations_of_this_build as (
    {%- if flags.WHICH == 'build' %}
    select location_id from {{ ref('inventory_ledger') }} where posted_run_seq = {{ this_build }}
    union
    select location_id from {{ api.Relation.create(database=target.database, schema='intermediate', identifier='int_finance__position_values') }}
    where _run_seq = {{ this_build }}
    {%- else %}
    select location_id from {{ api.Relation.create(database=target.database, schema='intermediate', identifier='int_locations__attributes') }}
    {%- endif %}
),

positions as (
    select location_id, sku, source_snapshot_ts from {{ api.Relation.create(database=target.database, schema='marts', identifier='inventory_position') }}
    where location_id in (select location_id from locations_of_this_build)
),

items as (
    select sku, unit_cost from {{ api.Relation.create(database=target.database, schema='staging', identifier='stg_erp__items') }}
),

snapshot_counts as (
    select location_id, sku, on_hand as qty from {{ api.Relation.create(database=target.database, schema='staging', identifier='stg_pos__inventory') }}
    where location_id in (select location_id from {{ api.Relation.create(database=target.database, schema='intermediate', identifier='int_locations__attributes') }} where stock_system = 'pos')
      and location_id in (select location_id from locations_of_this_build)
    union all
    select location_id, sku, sum(qty) from {{ api.Relation.create(database=target.database, schema='staging', identifier='stg_wms__inventory') }}
    where location_id in (select location_id from {{ api.Relation.create(database=target.database, schema='intermediate', identifier='int_locations__attributes') }} where stock_system = 'wms')
      and location_id in (select location_id from locations_of_this_build)
    group by location_id, sku
),

snapshot_per_location as (
    select distinct location_id, source_snapshot_ts from positions
),

ledger_on_hand as (
    select
        ledger.location_id,
        ledger.sku,
        ledger.qty,
        coalesce(ledger.value, 0) as value,
        ledger.source_feed = 'oms/returns' and ledger.event_ts <= snapshot.source_snapshot_ts as in_opening
    from {{ ref('inventory_ledger') }} as ledger
    left join snapshot_per_location as snapshot using (location_id)
    where ledger.account = 'on_hand'
      and ledger.location_id in (select location_id from locations_of_this_build)
      and (
          snapshot.source_snapshot_ts is null
          or ledger.event_ts > snapshot.source_snapshot_ts
          or ledger.source_feed = 'oms/returns'
      )
),

per_location as (
    select location_id, sum(opening_qty) as opening_qty, sum(opening_value) as opening_value,
        sum(movement_qty) as movement_qty, sum(movement_value) as movement_value,
        sum(closing_qty) as closing_qty, sum(closing_value) as closing_value
    from (
        select counts.location_id, counts.qty as opening_qty, counts.qty * coalesce(items.unit_cost, 0) as opening_value,
            0 as movement_qty, 0 as movement_value, 0 as closing_qty, 0 as closing_value
        from snapshot_counts as counts
        left join items using (sku)
        union all
        select location_id,
            case when in_opening then qty else 0 end, case when in_opening then value else 0 end,
            case when in_opening then 0 else qty end, case when in_opening then 0 else value end,
            0, 0
        from ledger_on_hand
        union all
        select location_id, 0, 0, 0, 0, qty, qty * coalesce(unit_cost, 0)
        from {{ api.Relation.create(database=target.database, schema='finance', identifier='inventory_valuation') }}
        where location_id in (select location_id from locations_of_this_build)
    ) as figures
    group by location_id
)

select *
from per_location
where opening_qty + movement_qty <> closing_qty
   or opening_value + movement_value <> closing_value
