-- Net revenue of each unit and month against the mean of its three previous months: a jump beyond
-- ±50 % is a warning to look at (a promotion, a store opening, or a data problem).
with revenue as (
    select org_unit_id, period_grain, period_start, value as net_revenue
    from {{ ref('kpi_values') }}
    where kpi_id = 'net_revenue' and period_grain = 'month'
),

with_trailing_mean as (
    select
        org_unit_id,
        period_grain,
        period_start,
        net_revenue,
        avg(net_revenue) over (
            partition by org_unit_id order by period_start rows between 3 preceding and 1 preceding
        ) as trailing_mean,
        count(*) over (
            partition by org_unit_id order by period_start rows between 3 preceding and 1 preceding
        ) as trailing_months
    from revenue
)

select
    org_unit_id,
    period_grain,
    period_start,
    net_revenue,
    trailing_mean,
    case
        when trailing_months = 3 and trailing_mean > 0 then net_revenue / trailing_mean - 1
    end as change_vs_trailing_mean
from with_trailing_mean
