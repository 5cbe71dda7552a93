-- One row per employee with a leave_date, at the org unit they belonged to that day (their roster
-- row with the latest valid_from ≤ leave_date). A table: a roster restatement can move any leave.
with assignments as (
    select * from {{ ref('int_employee_assignments') }}
),

final as (
    select
        employee_id,
        leave_date,
        org_unit_id,
        role,
        load_batch_id
    from assignments
    where leave_date is not null
        and valid_from <= leave_date
        and (next_valid_from is null or leave_date < next_valid_from)
)

select * from final
