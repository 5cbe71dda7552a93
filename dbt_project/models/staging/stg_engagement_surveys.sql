-- Staging: the current version of every engagement_surveys row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'engagement_surveys') }}
),

current_rows as (
    select
        response_id,
        response_date,
        org_unit_id,
        enps_score,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
