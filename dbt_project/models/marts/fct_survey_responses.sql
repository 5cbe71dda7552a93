-- One row per current survey response, classified for NPS and CSAT.
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
)

select * from final
