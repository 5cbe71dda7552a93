-- Staging: every target row of the kpi_targets seed, history included; rename and cast only.
-- Which row is in effect (latest effective_from not after the as-of date) is decided downstream.
with source as (
    select * from {{ ref('kpi_targets') }}
),

renamed as (
    select
        cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
        cast(org_unit_id as {{ dbt.type_string() }}) as org_unit_id,
        cast(period_grain as {{ dbt.type_string() }}) as period_grain,
        cast(period_start as date) as period_start,
        cast(target_value as {{ type_double() }}) as target_value,
        cast(effective_from as date) as effective_from,
        cast(set_by as {{ dbt.type_string() }}) as set_by,
        cast(reason as {{ dbt.type_string() }}) as reason
    from source
)

select * from renamed
