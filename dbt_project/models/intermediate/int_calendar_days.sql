-- One row per calendar day of every year that has sales data (whole years, so that a month,
-- quarter or year always has its calendar number of days): MetricFlow's time spine, and the
-- source of days per period. Bounded by the plausibility window (macros/date_window.sql), never
-- by the data alone: a stray 9999-12-31 cannot stretch it over millennia.
{%- set sales = ref('stg_sales_lines') %}
{%- set window = kpi_date_window() %}
{%- set first = "least(greatest(min(order_date), " ~ window['from'] ~ "), " ~ window['to'] ~ ")" %}
{%- set last = "greatest(least(max(order_date), " ~ window['to'] ~ "), " ~ window['from'] ~ ")" %}
{%- set first_day = "(select cast(" ~ dbt.date_trunc('year', first) ~ " as date) from " ~ sales ~ ")" %}
{%- set end_day = "(select cast(" ~ dbt.dateadd('year', 1, dbt.date_trunc('year', last)) ~ " as date) from " ~ sales ~ ")" %}

with days as (
    {{ dbt.date_spine(datepart='day', start_date=first_day, end_date=end_day) }}
)

select cast(date_day as date) as date_day from days
