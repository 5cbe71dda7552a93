-- The scorecard's two dates, one row:
--   as_of_date         periods ending on or before it are complete: the `kpi_as_of` var when it is
--                      set, else the last order date of the sales data (the data reaches that day);
--   target_clock_date  targets with an effective_from after it are not yet in effect: the
--                      `kpi_as_of` var when it is set, else today.
{%- set as_of = var('kpi_as_of', none) %}
{%- if as_of and not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', as_of | string) %}
    {{ exceptions.raise_compiler_error(
        "The dbt var kpi_as_of is '" ~ as_of ~ "': it must be a date written YYYY-MM-DD "
        ~ "(e.g. --vars '{kpi_as_of: 2025-06-30}'), or left unset for the latest data."
    ) }}
{%- endif %}
{%- set as_of_date = "cast('" ~ as_of ~ "' as date)" if as_of else "cast(null as date)" %}

with sales as (
    select order_date
    from {{ ref('stg_sales_lines') }}
),

final as (
    select
        coalesce({{ as_of_date }}, max(order_date)) as as_of_date,
        coalesce({{ as_of_date }}, current_date) as target_clock_date
    from sales
)

select * from final
