-- The target in effect for every KPI, org unit and period that has one: of the target rows of
-- stg_kpi_targets (history included), the one with the latest effective_from not after the
-- target clock of int_scorecard_clock (the `kpi_as_of` var when it is set, so that a rerun "as of"
-- a date sees the targets known then; else today). A period whose every target row is dated after
-- the clock has no target yet.

with targets as (
    select * from {{ ref('stg_kpi_targets') }}
),

target_clock as (
    select target_clock_date
    from {{ ref('int_scorecard_clock') }}
),

known_targets as (
    select
        targets.*,
        row_number() over (
            partition by targets.kpi_id, targets.org_unit_id, targets.period_grain, targets.period_start
            order by targets.effective_from desc
        ) as recency
    from targets
    cross join target_clock
    where targets.effective_from <= target_clock.target_clock_date
),

final as (
    select
        kpi_id,
        org_unit_id,
        period_grain,
        period_start,
        target_value,
        effective_from,
        set_by,
        reason
    from known_targets
    where recency = 1
)

select * from final
