-- One row per identified customer, at the date and org unit of their first order ever.
select
    customer_id,
    first_order_id,
    first_order_date,
    first_order_org_unit_id as org_unit_id,
    first_order_load_batch_id as load_batch_id
from {{ ref('int_customer_first_orders') }}
