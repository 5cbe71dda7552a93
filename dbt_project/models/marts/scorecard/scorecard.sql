-- The scorecard: every KPI of kpi_values for every org unit and every complete period, with its
-- target in effect, attainment, status (green, amber, red, no_target, no_data), points, the change
-- against the previous period and the same period a year earlier, and the KPI's weight. The status
-- rules (ratio and difference, edge cases included) are described column by column in
-- scorecard.yml and unit-tested there.
{%- set text = dbt.type_string() %}
{%- set double = type_double() %}

with kpi_values as (
    select
        kpi_id,
        period_grain,
        period_start,
        org_unit_id,
        value,
        numerator,
        denominator,
        sample_size,
        value_status
    from {{ ref('kpi_values') }}
),

complete_periods as (
    select
        period_grain,
        period_start,
        period_end,
        period_label
    from {{ ref('int_complete_periods') }}
),

org_units as (
    select
        org_unit_id,
        org_unit_name,
        org_unit_name_zh,
        unit_type,
        parent_org_unit_id
    from {{ ref('dim_org_units') }}
),

kpis as (
    select
        kpi_id,
        label,
        label_zh,
        perspective,
        unit,
        polarity,
        decimals,
        status_rule,
        green_at,
        amber_at,
        amber_band,
        weight
    from {{ ref('kpi_dictionary') }}
),

targets as (
    select * from {{ ref('int_targets_in_effect') }}
),

-- The KPI values of complete periods, with the start of the period before (same grain) and of the
-- same period a year earlier.
period_values as (
    select
        kpi_values.kpi_id,
        kpi_values.period_grain,
        kpi_values.period_start,
        complete_periods.period_end,
        complete_periods.period_label,
        kpi_values.org_unit_id,
        kpi_values.value,
        kpi_values.numerator,
        kpi_values.denominator,
        kpi_values.sample_size,
        kpi_values.value_status,
        cast(case kpi_values.period_grain
            when 'month' then {{ dbt.dateadd('month', -1, 'kpi_values.period_start') }}
            when 'quarter' then {{ dbt.dateadd('month', -3, 'kpi_values.period_start') }}
            when 'year' then {{ dbt.dateadd('month', -12, 'kpi_values.period_start') }}
        end as date) as prior_period_start,
        cast({{ dbt.dateadd('month', -12, 'kpi_values.period_start') }} as date) as prior_year_start
    from kpi_values
    inner join complete_periods
        on kpi_values.period_grain = complete_periods.period_grain
        and kpi_values.period_start = complete_periods.period_start
),

compared as (
    select
        period_values.period_grain,
        period_values.period_start,
        period_values.period_end,
        period_values.period_label,
        period_values.org_unit_id,
        org_units.org_unit_name,
        org_units.org_unit_name_zh,
        org_units.unit_type,
        org_units.parent_org_unit_id,
        period_values.kpi_id,
        kpis.label as kpi_label,
        kpis.label_zh as kpi_label_zh,
        kpis.perspective,
        kpis.unit,
        kpis.polarity,
        kpis.decimals,
        kpis.status_rule,
        kpis.green_at,
        kpis.amber_at,
        kpis.amber_band,
        kpis.weight,
        period_values.value as actual,
        period_values.numerator,
        period_values.denominator,
        period_values.sample_size,
        period_values.value_status,
        targets.target_value as target,
        targets.effective_from as target_effective_from,
        targets.set_by as target_set_by,
        prior_period.value as prior_period_actual,
        prior_year.value as prior_year_actual
    from period_values
    inner join kpis
        on period_values.kpi_id = kpis.kpi_id
    inner join org_units
        on period_values.org_unit_id = org_units.org_unit_id
    left join targets
        on {{ same_kpi_value('period_values', 'targets') }}
    left join kpi_values as prior_period
        on {{ same_kpi_value('period_values', 'prior_period', same_period=false) }}
        and period_values.prior_period_start = prior_period.period_start
    left join kpi_values as prior_year
        on {{ same_kpi_value('period_values', 'prior_year', same_period=false) }}
        and period_values.prior_year_start = prior_year.period_start
),

-- Attainment, and the gap of the difference rule (positive = on the right side of the target).
-- A ratio is only meaningful between a positive target and an actual that is not negative (and,
-- lower is better, not zero): otherwise attainment is NULL and the status says which side of the
-- target the actual is on.
measured as (
    select
        *,
        case
            when actual is null or target is null then null
            when status_rule = 'ratio'
                then case
                    when target <= 0 or actual < 0 then null
                    when polarity = 'lower_is_better' and actual = 0 then null
                    when polarity = 'lower_is_better' then target / actual
                    else actual / target
                end
            when status_rule = 'difference' then
                case
                    when actual <= 0 or target <= 0 then null
                    when polarity = 'lower_is_better' then target / actual
                    else actual / target
                end
        end as attainment,
        case
            when polarity = 'lower_is_better' then target - actual
            else actual - target
        end as gap
    from compared
),

rated as (
    select
        *,
        case
            when value_status = 'no_data' or actual is null then 'no_data'
            when target is null then 'no_target'
            when status_rule = 'ratio' and attainment is not null
                then case
                    when attainment >= green_at then 'green'
                    when attainment >= amber_at then 'amber'
                    else 'red'
                end
            when status_rule = 'ratio' then case when gap >= 0 then 'green' else 'red' end
            when status_rule = 'difference' then
                case
                    when gap >= 0 then 'green'
                    when gap >= -coalesce(amber_band, 0) then 'amber'
                    else 'red'
                end
        end as status
    from measured
),

final as (
    select
        cast(period_grain as {{ text }}) as period_grain,
        cast(period_start as date) as period_start,
        cast(period_end as date) as period_end,
        cast(period_label as {{ text }}) as period_label,
        cast(org_unit_id as {{ text }}) as org_unit_id,
        cast(org_unit_name as {{ text }}) as org_unit_name,
        cast(org_unit_name_zh as {{ text }}) as org_unit_name_zh,
        cast(unit_type as {{ text }}) as unit_type,
        cast(parent_org_unit_id as {{ text }}) as parent_org_unit_id,
        cast(kpi_id as {{ text }}) as kpi_id,
        cast(kpi_label as {{ text }}) as kpi_label,
        cast(kpi_label_zh as {{ text }}) as kpi_label_zh,
        cast(perspective as {{ text }}) as perspective,
        cast(unit as {{ text }}) as unit,
        cast(polarity as {{ text }}) as polarity,
        cast(decimals as {{ dbt.type_int() }}) as decimals,
        cast(actual as {{ double }}) as actual,
        cast(numerator as {{ double }}) as numerator,
        cast(denominator as {{ double }}) as denominator,
        cast(sample_size as {{ dbt.type_bigint() }}) as sample_size,
        cast(value_status as {{ text }}) as value_status,
        cast(target as {{ double }}) as target,
        cast(target_effective_from as date) as target_effective_from,
        cast(target_set_by as {{ text }}) as target_set_by,
        cast(attainment as {{ double }}) as attainment,
        cast(status as {{ text }}) as status,
        cast(case status
            when 'green' then 100
            when 'amber' then 50
            when 'red' then 0
        end as {{ dbt.type_int() }}) as points,
        cast(prior_period_actual as {{ double }}) as prior_period_actual,
        cast(actual - prior_period_actual as {{ double }}) as change_vs_prior_period,
        cast(prior_year_actual as {{ double }}) as prior_year_actual,
        cast(actual - prior_year_actual as {{ double }}) as change_vs_prior_year,
        cast(weight as {{ double }}) as weight
    from rated
)

select * from final
