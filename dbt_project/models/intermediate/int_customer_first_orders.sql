-- Each identified customer's first order ever: the earliest order_date, ties broken by order_id,
-- and the org unit that took it. Anonymous sales (no customer_id) do not count.
with orders as (
    select
        customer_id,
        order_id,
        min(order_date) as order_date,
        min(org_unit_id) as org_unit_id,
        -- the file that delivered the order's (first) current line: lineage of new-customer counts
        min(load_batch_id) as load_batch_id
    from {{ ref('stg_sales_lines') }}
    where customer_id is not null
    group by customer_id, order_id
),

ranked as (
    select
        customer_id,
        order_id,
        order_date,
        org_unit_id,
        load_batch_id,
        row_number() over (partition by customer_id order by order_date, order_id) as order_rank
    from orders
)

select
    customer_id,
    order_id as first_order_id,
    order_date as first_order_date,
    org_unit_id as first_order_org_unit_id,
    load_batch_id as first_order_load_batch_id
from ranked
where order_rank = 1
