-- One row per current employee pulse answer, classified for eNPS (promoter 9–10, detractor 0–6).
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key='response_id',
    on_schema_change='append_new_columns',
) }}
with responses as (
    select * from {{ ref('stg_engagement_surveys') }}
),

final as (
    select
        response_id,
        response_date,
        org_unit_id,
        enps_score,
        enps_score >= 9 as is_promoter,
        enps_score <= 6 as is_detractor,
        load_batch_id
    from responses
    {% if is_incremental() %}
    where {{ kpi_in_month_window('response_date') }}
    {% endif %}
)

select * from final
