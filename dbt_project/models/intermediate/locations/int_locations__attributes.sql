{{ config(
    incremental_strategy='delete+insert',
    unique_key='location_id',
    indexes=[{'columns': ['location_id'], 'unique': true}, {'columns': ['_run_seq']}],
    pre_hook=[
        "{% if is_incremental() %}
        -- a location that left the master and has no position any more leaves the table
        delete from {{ this }} as stored
        where not exists (select 1 from {{ ref('stg_erp__locations') }} as master where master.location_id = stored.location_id)
          and not exists (select 1 from {{ ref('int_inventory__position_keys') }} as known where known.location_id = stored.location_id)
        {% endif %}",
    ],
) }}
{% set build = omni_build_state() %}
{#
  Every location: those in the ERP location master and those any feed mentions. Decides which
  system's stock a location's position rolls forward from (stock_system): stores count at the
  till (pos), distribution centres and e-commerce fulfilment centres in the warehouse system
  (wms). A location missing from the master is a store if the till reports it, else a warehouse
  (the UNKNOWN_LOCATION exception flags it either way). Small table: recomputed whole, written
  only where something changed.
#}

with location_universe as (
    select location_id from {{ ref('stg_erp__locations') }}
    union
    {{ omni_distinct_values(ref('int_inventory__position_keys'), 'location_id') }}
),

located as (
    select
        universe.location_id,
        master.location_id is not null as in_location_master,
        lower(master.location_type) as location_type,
        master.region,
        master.legal_entity,
        coalesce(master.ships_to_customer, false) as ships_to_customer,
        coalesce(master.pickup_enabled, false) as pickup_enabled,
        case
            when lower(master.location_type) = 'store' then 'pos'
            when lower(master.location_type) in ('dc', 'ecom_fc') then 'wms'
            when exists (
                    select 1 from {{ ref('stg_pos__inventory') }} as counted
                    where counted.location_id = universe.location_id
                ) or exists (
                    select 1 from {{ ref('stg_pos__sales') }} as sold
                    where sold.location_id = universe.location_id
                ) then 'pos'
            else 'wms'
        end as stock_system
    from location_universe as universe
    left join {{ ref('stg_erp__locations') }} as master on universe.location_id = master.location_id
),

changed as (
    {{ omni_changed_only('located', ['location_id'],
        ['in_location_master', 'location_type', 'region', 'legal_entity', 'ships_to_customer', 'pickup_enabled', 'stock_system']) }}
)

select
    location_id,
    in_location_master,
    location_type,
    region,
    legal_entity,
    ships_to_customer,
    pickup_enabled,
    stock_system,
    {{ build.run_seq }}::bigint as _run_seq
from changed
