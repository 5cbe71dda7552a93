-- One row per current complaint, in the period it was opened.
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key='complaint_id',
    on_schema_change='append_new_columns',
) }}
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
    {% if is_incremental() %}
    where {{ kpi_in_month_window('opened_at') }}
    {% endif %}
)

select * from final
