-- Staging: the current version of every survey_responses row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'survey_responses') }}
),

current_rows as (
    select
        response_id,
        response_date,
        org_unit_id,
        customer_id,
        order_id,
        nps_score,
        csat_score,
        comment as survey_comment,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
