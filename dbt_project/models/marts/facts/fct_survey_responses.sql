-- One row per current survey response, classified for NPS and CSAT.
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key='response_id',
    on_schema_change='append_new_columns',
) }}
with responses as (
    select * from {{ ref('stg_survey_responses') }}
),

final as (
    select
        response_id,
        response_date,
        org_unit_id,
        customer_id,
        nps_score,
        csat_score,
        nps_score is not null as has_nps,
        coalesce(nps_score >= 9, false) as is_promoter,
        coalesce(nps_score <= 6, false) as is_detractor,
        csat_score is not null as has_csat,
        coalesce(csat_score >= 4, false) as is_satisfied,
        load_batch_id
    from responses
    {% if is_incremental() %}
    where {{ kpi_in_month_window('response_date') }}
    {% endif %}
)

select * from final
