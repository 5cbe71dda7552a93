-- Staging: the current version of every employees row, typed by the extractor; rename and cast only.
-- One row per employee and valid_from: the row holds from its valid_from until the employee's next one.
with source as (
    select * from {{ source('raw', 'employees') }}
),

current_rows as (
    select
        employee_id,
        valid_from,
        name as employee_name,
        org_unit_id,
        manager_id,
        role,
        fte,
        hire_date,
        leave_date,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
