-- Early warning (异常预警): every KPI value of the staged scorecard compared with its own history.
-- Two rules, one row per value and rule that fires:
--   robust_z     the value is far from the median of the trailing periods of the same KPI, org unit
--                and grain, in the adverse direction of the KPI's polarity: robust z-score
--                (value − median) / (1.4826 · MAD) beyond kpi_alert_z_warning (warning) or
--                kpi_alert_z_critical (critical). Needs kpi_alert_min_history values in the window;
--                a history with MAD 0 (constant) has no scale and is skipped.
--   green_to_red the status went from green in the previous period of the grain to red now.
-- Thresholds are dbt vars (dbt_project.yml documents the defaults).
{%- set text = dbt.type_string() %}
{%- set double = type_double() %}
{%- set window = var('kpi_alert_history_periods') | int %}
{%- set min_history = var('kpi_alert_min_history') | int %}
{%- set z_warning = var('kpi_alert_z_warning') | float %}
{%- set z_critical = var('kpi_alert_z_critical') | float %}
-- 1.4826 · MAD estimates the standard deviation of normally distributed data.
{%- set mad_scale = 1.4826 %}

with scorecard as (
    select
        kpi_id,
        kpi_label,
        kpi_label_zh,
        org_unit_id,
        org_unit_name,
        org_unit_name_zh,
        period_grain,
        period_start,
        period_label,
        unit,
        polarity,
        decimals,
        actual,
        status
    from {{ ref('scorecard') }}
),

owners as (
    select
        kpi_id,
        owner
    from {{ ref('kpi_dictionary') }}
),

-- Each series (KPI, org unit, grain) numbered by period, counting only periods with a value, so the
-- window is the last N values; and the status of the period just before (with or without a value).
series as (
    select
        *,
        row_number() over (
            partition by kpi_id, org_unit_id, period_grain, case when actual is null then 0 else 1 end
            order by period_start
        ) as value_number,
        lag(status) over (
            partition by kpi_id, org_unit_id, period_grain order by period_start
        ) as prior_status
    from scorecard
),

valued as (
    select * from series where actual is not null
),

history as (
    select
        current_value.kpi_id,
        current_value.org_unit_id,
        current_value.period_grain,
        current_value.period_start,
        past_value.actual as past_actual
    from valued as current_value
    inner join valued as past_value
        on {{ same_kpi_value('current_value', 'past_value', same_period=false) }}
        and current_value.value_number > past_value.value_number
        and past_value.value_number >= current_value.value_number - {{ window }}
),

medians as (
    select
        kpi_id,
        org_unit_id,
        period_grain,
        period_start,
        count(*) as history_periods,
        {{ median('past_actual') }} as history_median
    from history
    group by kpi_id, org_unit_id, period_grain, period_start
    having count(*) >= {{ min_history }}
),

spreads as (
    select
        medians.kpi_id,
        medians.org_unit_id,
        medians.period_grain,
        medians.period_start,
        medians.history_periods,
        medians.history_median,
        {{ median('abs(history.past_actual - medians.history_median)') }} as history_mad
    from medians
    inner join history
        on {{ same_kpi_value('medians', 'history') }}
    group by
        medians.kpi_id, medians.org_unit_id, medians.period_grain, medians.period_start,
        medians.history_periods, medians.history_median
),

scored as (
    select
        valued.*,
        spreads.history_periods,
        spreads.history_median,
        spreads.history_mad,
        case
            when spreads.history_mad > 0
                then (valued.actual - spreads.history_median) / ({{ mad_scale }} * spreads.history_mad)
        end as robust_z,
        cast(spreads.history_median - {{ z_warning }} * {{ mad_scale }} * spreads.history_mad as {{ double }})
            as expected_low,
        cast(spreads.history_median + {{ z_warning }} * {{ mad_scale }} * spreads.history_mad as {{ double }})
            as expected_high
    from valued
    left join spreads
        on {{ same_kpi_value('valued', 'spreads') }}
),

-- The z-score turned so that positive is bad, whatever the polarity.
adverse as (
    select
        *,
        case when polarity = 'lower_is_better' then robust_z else -robust_z end as adverse_z
    from scored
),

robust_z_alerts as (
    select
        *,
        'robust_z' as detected_rule,
        case when adverse_z >= {{ z_critical }} then 'critical' else 'warning' end as severity,
        {{ dbt.concat([
            "case when robust_z < 0 then 'below' else 'above' end",
            "' the expected range '",
            "cast(round(expected_low, 2) as " ~ text ~ ")",
            "' to '",
            "cast(round(expected_high, 2) as " ~ text ~ ")",
            "' (median of the last '",
            "cast(history_periods as " ~ text ~ ")",
            "' values '",
            "cast(round(history_median, 2) as " ~ text ~ ")",
            "', robust z '",
            "cast(round(robust_z, 1) as " ~ text ~ ")",
            "')'",
        ]) }} as reason
    from adverse
    where adverse_z >= {{ z_warning }}
),

status_alerts as (
    select
        *,
        'green_to_red' as detected_rule,
        'warning' as severity,
        {{ dbt.concat(["'status turned from green to red since the previous ' ", "period_grain"]) }} as reason
    from adverse
    where prior_status = 'green' and status = 'red'
),

alerts as (
    select * from robust_z_alerts
    union all
    select * from status_alerts
)

select
    cast(alerts.kpi_id as {{ text }}) as kpi_id,
    cast(alerts.kpi_label as {{ text }}) as kpi_label,
    cast(alerts.kpi_label_zh as {{ text }}) as kpi_label_zh,
    cast(alerts.org_unit_id as {{ text }}) as org_unit_id,
    cast(alerts.org_unit_name as {{ text }}) as org_unit_name,
    cast(alerts.org_unit_name_zh as {{ text }}) as org_unit_name_zh,
    cast(alerts.period_grain as {{ text }}) as period_grain,
    cast(alerts.period_start as date) as period_start,
    cast(alerts.period_label as {{ text }}) as period_label,
    cast(alerts.unit as {{ text }}) as unit,
    cast(alerts.polarity as {{ text }}) as polarity,
    cast(alerts.decimals as integer) as decimals,
    cast(alerts.actual as {{ double }}) as value,
    cast(alerts.expected_low as {{ double }}) as expected_low,
    cast(alerts.expected_high as {{ double }}) as expected_high,
    cast(alerts.history_median as {{ double }}) as history_median,
    cast(alerts.history_periods as integer) as history_periods,
    cast(alerts.robust_z as {{ double }}) as robust_z,
    cast(alerts.prior_status as {{ text }}) as prior_status,
    cast(alerts.status as {{ text }}) as status,
    cast(alerts.detected_rule as {{ text }}) as detected_rule,
    cast(alerts.severity as {{ text }}) as severity,
    cast(alerts.reason as {{ text }}) as reason,
    cast(owners.owner as {{ text }}) as owner
from alerts
left join owners
    on alerts.kpi_id = owners.kpi_id
