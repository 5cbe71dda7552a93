-- Staging: the current version of every org_units row, typed by the extractor; rename and cast only.
with source as (
    select * from {{ source('raw', 'org_units') }}
),

current_rows as (
    select
        org_unit_id,
        name as org_unit_name,
        name_zh as org_unit_name_zh,
        parent_id as parent_org_unit_id,
        unit_type,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
