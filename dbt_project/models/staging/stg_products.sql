-- Staging: the current version of every products row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'products') }}
),

current_rows as (
    select
        sku,
        name as product_name,
        category,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
