-- One row per employee who leaves, at the org unit they belonged to on their leave_date: their
-- roster day of that date (int_employee_days; the leave date is the last day they are active).
-- A table: a roster restatement can move any leave.
with leave_days as (
    -- one leave_date per employee (int_employee_assignments repeats it on every row)
    select distinct employee_id, leave_date
    from {{ ref('int_employee_assignments') }}
    where leave_date is not null
),

final as (
    select
        leave_days.employee_id,
        leave_days.leave_date,
        employee_days.org_unit_id,
        employee_days.role,
        employee_days.load_batch_id
    from leave_days
    inner join {{ ref('int_employee_days') }} as employee_days
        on leave_days.employee_id = employee_days.employee_id
        and leave_days.leave_date = employee_days.date_day
)

select * from final
