-- Per staged fact table and month: rows staged, keys that occur more than once (counted in the
-- month of their first row, with one example) and rows whose org unit or product does not exist.
-- A table of a few hundred rows, so the gate's expectations read it in milliseconds; the work, one
-- aggregation per table over its key and one over its months, is done once here. (As a view of
-- one row per staged row, the gate's uniqueness expectation re-ran a window over every key twice:
-- ~6 s at 10 million sales lines.)
{{ config(materialized='table') }}

{#- table: (key columns, date column, org unit column or none, product column or none) -#}
{%- set staged = {
    'stg_sales_lines': (['order_id', 'line_no'], 'order_date', 'org_unit_id', 'sku'),
    'stg_returns': (['return_id'], 'return_date', none, none),
    'stg_inventory_snapshots': (['snapshot_date', 'org_unit_id', 'sku'], 'snapshot_date', 'org_unit_id', 'sku'),
    'stg_survey_responses': (['response_id'], 'response_date', 'org_unit_id', none),
    'stg_complaints': (['complaint_id'], 'opened_at', 'org_unit_id', none)} %}

with units as (
    select org_unit_id from {{ ref('stg_org_units') }}
),

products as (
    select sku from {{ ref('stg_products') }}
),
{% for table, (key, date_column, unit_column, sku_column) in staged.items() %}
{{ table }}_months as (
    select
        cast({{ dbt.date_trunc('month', 'staged.' ~ date_column) }} as date) as period_start,
        count(*) as staged_rows,
        {%- if unit_column %}
        sum(case when staged.{{ unit_column }} is not null and units.org_unit_id is null then 1 else 0 end)
        {%- else %}
        0
        {%- endif %} as unknown_org_unit_rows,
        {%- if sku_column %}
        sum(case when staged.{{ sku_column }} is not null and products.sku is null then 1 else 0 end)
        {%- else %}
        0
        {%- endif %} as unknown_sku_rows
    from {{ ref(table) }} as staged
    {% if unit_column %}
    left join units on staged.{{ unit_column }} = units.org_unit_id
    {% endif %}
    {% if sku_column %}
    left join products on staged.{{ sku_column }} = products.sku
    {% endif %}
    group by 1
),

{%- set key_text = [] %}
{%- for column in key %}
{%- if not loop.first %}{% do key_text.append("'#'") %}{% endif %}
{%- do key_text.append('cast(' ~ column ~ ' as ' ~ dbt.type_string() ~ ')') %}
{%- endfor %}
{{ table }}_repeated_keys as (
    select
        min(cast({{ dbt.date_trunc('month', date_column) }} as date)) as period_start,
        {{ dbt.concat(key_text) }} as row_key
    from {{ ref(table) }}
    group by {{ key | join(', ') }}
    having count(*) > 1
),

{{ table }}_duplicates as (
    select period_start, count(*) as duplicate_keys, min(row_key) as duplicate_key_example
    from {{ table }}_repeated_keys
    group by 1
),

{{ table }}_checked as (
    select
        '{{ table }}' as table_name,
        months.period_start,
        months.staged_rows,
        coalesce(repeated.duplicate_keys, 0) as duplicate_keys,
        repeated.duplicate_key_example,
        months.unknown_org_unit_rows,
        months.unknown_sku_rows
    from {{ table }}_months as months
    left join {{ table }}_duplicates as repeated on months.period_start = repeated.period_start
),
{% endfor %}
checked as (
    {%- for table in staged %}
    select * from {{ table }}_checked
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    table_name,
    case when period_start is null then null else 'month' end as period_grain,
    period_start,
    staged_rows,
    duplicate_keys,
    duplicate_key_example,
    unknown_org_unit_rows,
    unknown_sku_rows
from checked
