-- Each roster row with the days it describes: from its valid_from until the day before the
-- employee's next valid_from (open for the employee's latest row), with the employee's
-- employment dates. hire_date is one per employee (a contract rule); leave_date is the one of
-- the employee's latest row, the current description of the employee (docs/kpi_definitions.md:
-- earlier rows may predate the leave being known).
with roster as (
    select
        employee_id,
        valid_from,
        org_unit_id,
        role,
        fte,
        hire_date,
        leave_date,
        load_batch_id
    from {{ ref('stg_employees') }}
),

spans as (
    select
        employee_id,
        valid_from,
        lead(valid_from) over (partition by employee_id order by valid_from) as next_valid_from,
        org_unit_id,
        role,
        fte,
        min(hire_date) over (partition by employee_id) as hire_date,
        first_value(leave_date) over (
            partition by employee_id order by valid_from desc
            rows between unbounded preceding and unbounded following
        ) as leave_date,
        load_batch_id
    from roster
)

select * from spans
