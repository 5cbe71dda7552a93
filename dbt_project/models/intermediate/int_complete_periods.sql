-- The complete periods: the months, quarters and years of int_periods whose last day is on or
-- before the as-of date. The as-of date is the `kpi_as_of` var when it is set, else the last
-- order date of the sales data: the data reaches that day, so a period ending then is complete
-- (int_scorecard_clock).

with periods as (
    select
        period_grain,
        period_start,
        period_end,
        days_in_period,
        period_label
    from {{ ref('int_periods') }}
),

as_of as (
    select as_of_date
    from {{ ref('int_scorecard_clock') }}
),

final as (
    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        periods.days_in_period,
        periods.period_label,
        as_of.as_of_date
    from periods
    cross join as_of
    where periods.period_end <= as_of.as_of_date
)

select * from final
