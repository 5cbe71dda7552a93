-- One row per current training record, at the org unit the employee belonged to on completed_on
-- (their roster row with the latest valid_from ≤ completed_on; null before their first row, and
-- then the hours count at no unit). A table: a roster restatement can move a training to another unit.
with trainings as (
    select * from {{ ref('stg_training_records') }}
),

assignments as (
    select employee_id, valid_from, next_valid_from, org_unit_id
    from {{ ref('int_employee_assignments') }}
),

final as (
    select
        trainings.training_id,
        trainings.employee_id,
        trainings.course,
        trainings.completed_on,
        trainings.hours,
        assignments.org_unit_id,
        trainings.load_batch_id
    from trainings
    left join assignments
        on trainings.employee_id = assignments.employee_id
        and trainings.completed_on >= assignments.valid_from
        and (assignments.next_valid_from is null or trainings.completed_on < assignments.next_valid_from)
)

select * from final
