-- Every target's period_start is the first day of its grain (a month, quarter or year start).
-- Fails with the misaligned rows; an unknown grain fails too (no aligned start to compare with).
{%- set grains = ['month', 'quarter', 'year'] %}

with targets as (
    select kpi_id, org_unit_id, period_grain, period_start, effective_from
    from {{ ref('stg_kpi_targets') }}
),

aligned as (
    select
        kpi_id,
        org_unit_id,
        period_grain,
        period_start,
        effective_from,
        case period_grain
            {%- for grain in grains %}
            when '{{ grain }}' then cast({{ dbt.date_trunc(grain, 'period_start') }} as date)
            {%- endfor %}
        end as aligned_start
    from targets
)

select *
from aligned
where aligned_start is null
    or period_start <> aligned_start
