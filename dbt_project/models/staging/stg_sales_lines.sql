-- Staging: the current version of every sales_lines row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'sales_lines') }}
),

current_rows as (
    select
        order_id,
        line_no,
        order_date,
        customer_id,
        org_unit_id,
        sku,
        quantity,
        unit_price,
        discount_amount,
        unit_cost,
        channel,
        salesperson_id,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
