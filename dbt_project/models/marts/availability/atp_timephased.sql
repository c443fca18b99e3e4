{#
  Projected ATP per location, sku and day: as_of's date and the next 13 days. The figures are
  stored one array per position (int_availability__timephased); this view spreads them over dates.
#}

select
    timephased.location_id,
    timephased.sku,
    ((build_as_of.as_of at time zone 'UTC')::date + days.day_offset)::date as bucket_date,
    timephased.projected_atp_by_day[days.day_offset + 1] as projected_atp
from {{ ref('int_availability__timephased') }} as timephased
cross join {{ ref('int_availability__as_of') }} as build_as_of
cross join generate_series(0, {{ var('timephased_days') }} - 1) as days (day_offset)
