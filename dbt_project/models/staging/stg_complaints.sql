-- Staging: the current version of every complaints row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'complaints') }}
),

current_rows as (
    select
        complaint_id,
        opened_at,
        resolved_at,
        org_unit_id,
        customer_id,
        order_id,
        category as complaint_category,
        handler_id,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
