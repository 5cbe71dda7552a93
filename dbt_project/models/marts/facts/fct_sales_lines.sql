-- One row per current sales line, with the amounts the KPIs add up and the customer's history.
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key=['order_id', 'line_no'],
    on_schema_change='append_new_columns',
) }}
with lines as (
    select * from {{ ref('stg_sales_lines') }}
),

first_orders as (
    select customer_id, first_order_date from {{ ref('int_customer_first_orders') }}
),

final as (
    select
        lines.order_id,
        lines.line_no,
        lines.order_date,
        lines.org_unit_id,
        lines.sku,
        lines.customer_id,
        lines.channel,
        lines.load_batch_id,
        lines.quantity,
        lines.quantity * lines.unit_price - lines.discount_amount as gross_amount,
        lines.quantity * lines.unit_cost as cost_amount,
        first_orders.first_order_date as customer_first_order_date,
        -- "Had ordered anywhere before the period start", per period grain (the KPI compiler
        -- picks the flag of the grain it computes; see docs/kpi_definitions.md). The linter cannot
        -- indent around the comma the loop writes between columns, hence no LT02 here.
        -- noqa: disable=LT02
        {%- for grain in ['month', 'quarter', 'year'] %}
        first_orders.first_order_date < {{ dbt.date_trunc(grain, 'lines.order_date') }}
        as ordered_before_{{ grain }}{{ "," if not loop.last }}
        {%- endfor %}
    from lines
    -- noqa: enable=LT02
    left join first_orders on lines.customer_id = first_orders.customer_id
    {% if is_incremental() %}
    where {{ kpi_in_month_window('lines.order_date') }}
    {% endif %}
)

select * from final
