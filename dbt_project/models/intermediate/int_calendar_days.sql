-- One row per calendar day of every year that has sales data (whole years, so that a month,
-- quarter or year always has its calendar number of days): MetricFlow's time spine, and the
-- source of days per period.
{%- set sales = ref('stg_sales_lines') %}
{%- set first_day = "(select cast(" ~ dbt.date_trunc('year', 'min(order_date)') ~ " as date) from " ~ sales ~ ")" %}
{%- set end_day = "(select cast(" ~ dbt.dateadd('year', 1, dbt.date_trunc('year', 'max(order_date)')) ~ " as date) from " ~ sales ~ ")" %}

with days as (
    {{ dbt.date_spine(datepart='day', start_date=first_day, end_date=end_day) }}
)

select cast(date_day as date) as date_day from days
