-- Scores per complete period and org unit: one row per balanced-scorecard perspective with at
-- least one KPI rated green, amber or red (the weighted mean of its KPIs' points by KPI weight),
-- and one 'overall' row (the weighted mean of those perspective scores by perspective weight, from
-- the perspective_weights seed; a perspective missing from the seed weighs 1). KPIs with no target
-- or no data are left out of both. A period and unit with no rated KPI has no rows.

with rated_kpis as (
    select
        period_grain,
        period_start,
        org_unit_id,
        perspective,
        points,
        weight
    from {{ ref('scorecard') }}
    where status in ('green', 'amber', 'red')
),

perspective_weights as (
    select
        perspective,
        weight
    from {{ ref('perspective_weights') }}
),

perspective_scores as (
    select
        period_grain,
        period_start,
        org_unit_id,
        perspective,
        -- decimals: exact and independent of the order rows are added in (doubles differ in the
        -- last bit between runs, which would read as a restatement, and can land on 100.0000000001)
        cast(round(cast(
            sum(cast(weight as decimal(18, 6)) * points) / nullif(sum(cast(weight as decimal(18, 6))), 0)
            as decimal(38, 12)
        ), 6) as {{ type_double() }}) as score,
        count(*) as kpis_scored
    from rated_kpis
    group by period_grain, period_start, org_unit_id, perspective
),

weighted_perspectives as (
    select
        perspective_scores.period_grain,
        perspective_scores.period_start,
        perspective_scores.org_unit_id,
        perspective_scores.score,
        perspective_scores.kpis_scored,
        case
            when perspective_scores.score is not null then coalesce(perspective_weights.weight, 1)
        end as perspective_weight
    from perspective_scores
    left join perspective_weights
        on perspective_scores.perspective = perspective_weights.perspective
),

overall_scores as (
    select
        period_grain,
        period_start,
        org_unit_id,
        'overall' as perspective,
        -- the quotient as a decimal before rounding: DuckDB divides decimals in double precision, so
        -- an exact half (four perspectives: x.xxxxxx5) would round down there and up on Spark
        cast(round(cast(
            sum(cast(perspective_weight as decimal(18, 6)) * cast(score as decimal(18, 6)))
            / nullif(sum(cast(perspective_weight as decimal(18, 6))), 0)
            as decimal(38, 12)
        ), 6) as {{ type_double() }}) as score,
        sum(kpis_scored) as kpis_scored
    from weighted_perspectives
    group by period_grain, period_start, org_unit_id
),

scores as (
    select period_grain, period_start, org_unit_id, perspective, score, kpis_scored
    from perspective_scores
    union all
    select period_grain, period_start, org_unit_id, perspective, score, kpis_scored
    from overall_scores
),

final as (
    select
        cast(period_grain as {{ dbt.type_string() }}) as period_grain,
        cast(period_start as date) as period_start,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(perspective as {{ dbt.type_string() }}) as perspective,
        cast(score as {{ type_double() }}) as score,
        cast(kpis_scored as {{ dbt.type_int() }}) as kpis_scored
    from scores
)

select * from final
