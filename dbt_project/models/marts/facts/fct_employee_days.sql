-- One row per employee and day they are active, at that day's org unit, with their FTE; on the
-- last day of a month (and so of every quarter and year) whether they completed a training in the
-- 365 days ending that day (day − 364 ≤ completed_on ≤ day). The semantic model employee_days
-- averages FTE and headcount over the days of a period and counts staff on its last day.
-- A table, not partitioned by month: the roster is effective-dated, so a new row can restate any day.
{%- set next_day = dbt.dateadd('day', 1, 'days.date_day') %}
with days as (
    select
        employee_id,
        date_day,
        org_unit_id,
        role,
        fte,
        load_batch_id
    from {{ ref('int_employee_days') }}
),

month_ends as (
    select days.employee_id, days.date_day
    from days
    where extract(day from {{ next_day }}) = 1
),

trained as (
    select distinct
        month_ends.employee_id,
        month_ends.date_day
    from month_ends
    inner join {{ ref('stg_training_records') }} as trainings
        on month_ends.employee_id = trainings.employee_id
        and month_ends.date_day >= trainings.completed_on
        and trainings.completed_on >= {{ dbt.dateadd('day', -364, 'month_ends.date_day') }}
),

final as (
    select
        days.employee_id,
        days.date_day,
        days.org_unit_id,
        days.role,
        days.fte,
        extract(day from {{ next_day }}) = 1 as is_month_end,
        extract(day from {{ next_day }}) = 1 and extract(month from days.date_day) in (3, 6, 9, 12)
            as is_quarter_end,
        extract(day from {{ next_day }}) = 1 and extract(month from days.date_day) = 12 as is_year_end,
        trained.employee_id is not null as trained_in_365_days,
        days.load_batch_id
    from days
    left join trained
        on days.employee_id = trained.employee_id
        and days.date_day = trained.date_day
)

select * from final
