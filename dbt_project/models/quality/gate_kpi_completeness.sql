-- Per period: KPI rows present against KPIs × org units (every combination exactly once).
with expected as (
    select
        periods.period_grain,
        periods.period_start,
        (select count(*) from {{ ref('kpi_dictionary') }})
        * (select count(*) from {{ ref('stg_org_units') }}) as expected_rows
    from {{ ref('int_periods') }} as periods
),

present as (
    select period_grain, period_start, count(*) as present_rows
    from {{ ref('kpi_values') }}
    group by 1, 2
)

select
    expected.period_grain,
    expected.period_start,
    expected.expected_rows,
    coalesce(present.present_rows, 0) as present_rows
from expected
left join present
    on expected.period_grain = present.period_grain and expected.period_start = present.period_start
