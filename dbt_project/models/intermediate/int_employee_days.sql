-- The roster in effect per day: one row per employee and calendar day on which they are active
-- (hire_date ≤ day and (no leave_date or day ≤ leave_date)), with the org unit, role and FTE of
-- their row with the latest valid_from ≤ day. A day an active employee has no row for yet (before
-- their first valid_from) belongs to no unit and is left out.
with assignments as (
    select * from {{ ref('int_employee_assignments') }}
),

days as (
    select date_day from {{ ref('int_calendar_days') }}
),

final as (
    select
        assignments.employee_id,
        days.date_day,
        assignments.org_unit_id,
        assignments.role,
        assignments.fte,
        assignments.valid_from,
        assignments.load_batch_id
    from assignments
    inner join days
        on assignments.valid_from <= days.date_day
        and (assignments.next_valid_from is null or assignments.next_valid_from > days.date_day)
    where
        days.date_day >= assignments.hire_date
        and (assignments.leave_date is null or days.date_day <= assignments.leave_date)
)

select * from final
