-- Every calendar month, quarter and year from the first to the last month with sales data, with
-- its calendar end and number of days (a year in progress still has 365 or 366 days).
{%- set grains = ['month', 'quarter', 'year'] %}

with days as (
    select date_day from {{ ref('int_calendar_days') }}
),

data_months as (
    select
        cast({{ dbt.date_trunc('month', 'min(order_date)') }} as date) as first_month,
        cast({{ dbt.date_trunc('month', 'max(order_date)') }} as date) as last_month
    from {{ ref('stg_sales_lines') }}
),

periods as (
    {%- for grain in grains %}
    select
        '{{ grain }}' as period_grain,
        cast({{ dbt.date_trunc(grain, 'date_day') }} as date) as period_start,
        max(date_day) as period_end,
        count(*) as days_in_period
    from days
    group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

periods_with_data as (
    select periods.*
    from periods
    cross join data_months
    where
        periods.period_end >= data_months.first_month
        and periods.period_start <= data_months.last_month
)

{%- set text = dbt.type_string() %}
{%- set year = "cast(extract(year from period_start) as " ~ text ~ ")" %}
{%- set month_number = "lpad(cast(extract(month from period_start) as " ~ text ~ "), 2, '0')" %}
{%- set quarter_number = "cast(extract(quarter from period_start) as " ~ text ~ ")" %}

select
    period_grain,
    period_start,
    period_end,
    days_in_period,
    case period_grain
        when 'month' then {{ dbt.concat([year, "'-'", month_number]) }}
        when 'quarter' then {{ dbt.concat([year, "'-Q'", quarter_number]) }}
        else {{ year }}
    end as period_label
from periods_with_data
