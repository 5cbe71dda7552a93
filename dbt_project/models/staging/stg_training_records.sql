-- Staging: the current version of every training_records row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'training_records') }}
),

current_rows as (
    select
        training_id,
        employee_id,
        course,
        completed_on,
        hours,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
