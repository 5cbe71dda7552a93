-- One row per current return, attributed to the org unit of the original sales line and valued at
-- the original line's unit cost; it counts in the period of its return_date.
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key='return_id',
    on_schema_change='append_new_columns',
) }}
with returns as (
    select * from {{ ref('stg_returns') }}
),

lines as (
    select order_id, line_no, org_unit_id, unit_cost from {{ ref('stg_sales_lines') }}
),

final as (
    select
        returns.return_id,
        returns.return_date,
        lines.org_unit_id,
        returns.order_id,
        returns.line_no,
        returns.returned_quantity,
        returns.refund_amount,
        returns.returned_quantity * lines.unit_cost as returned_cost_amount,
        returns.load_batch_id
    from returns
    inner join lines on returns.order_id = lines.order_id and returns.line_no = lines.line_no
    {% if is_incremental() %}
    where {{ kpi_in_month_window('returns.return_date') }}
    {% endif %}
)

select * from final
