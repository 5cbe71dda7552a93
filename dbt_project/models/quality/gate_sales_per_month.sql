-- Sales lines per month of the KPI calendar: a month without any is not a month to publish.
with months as (
    select period_grain, period_start from {{ ref('int_periods') }} where period_grain = 'month'
),

sales as (
    select cast({{ dbt.date_trunc('month', 'order_date') }} as date) as period_start, count(*) as sales_lines
    from {{ ref('stg_sales_lines') }}
    group by 1
)

select months.period_grain, months.period_start, coalesce(sales.sales_lines, 0) as sales_lines
from months
left join sales on months.period_start = sales.period_start
