-- One row per staged fact row: its key (table-qualified, so one uniqueness test covers all) and
-- whether its org unit and, for sales lines, its product exist.
with units as (
    select org_unit_id from {{ ref('stg_org_units') }}
),

products as (
    select sku from {{ ref('stg_products') }}
),

staged_rows as (
    select
        'stg_sales_lines' as table_name,
        {{ dbt.concat(["order_id", "'#'", "cast(line_no as " ~ dbt.type_string() ~ ")"]) }} as row_key,
        org_unit_id,
        sku,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as period_start
    from {{ ref('stg_sales_lines') }}
    union all
    select 'stg_returns', return_id, null, null, cast({{ dbt.date_trunc('month', 'return_date') }} as date)
    from {{ ref('stg_returns') }}
    union all
    select
        'stg_inventory_snapshots',
        {{ dbt.concat(["cast(snapshot_date as " ~ dbt.type_string() ~ ")", "'#'", "org_unit_id", "'#'", "sku"]) }},
        org_unit_id,
        sku,
        cast({{ dbt.date_trunc('month', 'snapshot_date') }} as date)
    from {{ ref('stg_inventory_snapshots') }}
    union all
    select 'stg_survey_responses', response_id, org_unit_id, null, cast({{ dbt.date_trunc('month', 'response_date') }} as date)
    from {{ ref('stg_survey_responses') }}
    union all
    select 'stg_complaints', complaint_id, org_unit_id, null, cast({{ dbt.date_trunc('month', 'opened_at') }} as date)
    from {{ ref('stg_complaints') }}
)

select
    staged_rows.table_name,
    {{ dbt.concat(["staged_rows.table_name", "':'", "staged_rows.row_key"]) }} as row_key,
    'month' as period_grain,
    staged_rows.period_start,
    staged_rows.org_unit_id is null or staged_rows.org_unit_id in (select org_unit_id from units) as org_unit_known,
    staged_rows.sku is null or staged_rows.sku in (select sku from products) as sku_known
from staged_rows
