-- Staging: the current version of every returns row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'returns') }}
),

current_rows as (
    select
        return_id,
        order_id,
        line_no,
        return_date,
        quantity as returned_quantity,
        refund_amount,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
