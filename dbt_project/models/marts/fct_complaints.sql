-- One row per current complaint, in the period it was opened.
with complaints as (
    select * from {{ ref('stg_complaints') }}
),

final as (
    select
        complaint_id,
        opened_at,
        cast(opened_at as date) as opened_date,
        resolved_at,
        org_unit_id,
        complaint_category,
        coalesce(
            resolved_at <= {{ dbt.dateadd('hour', 48, 'opened_at') }}, false
        ) as resolved_within_48h,
        load_batch_id
    from complaints
)

select * from final
