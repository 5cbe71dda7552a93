-- Per fact entity and month: rows loaded and rows quarantined, for the gate's quarantine-share
-- check. `gated_share` is the share only where the month has at least `gate_quarantine_min_rows`
-- rows (default 100): below that one bad row is already several percent, so the share is only
-- warned about, not gated. A quarantined row counts in the month of its own date when that parses; a row whose date
-- does not parse counts in the first month its file (batch) loaded rows for, or globally (NULL
-- period) when the file loaded nothing.
{%- set entities = {
    'sales_lines': ('order_date', 'date'), 'returns': ('return_date', 'date'),
    'inventory_snapshots': ('snapshot_date', 'date'), 'survey_responses': ('response_date', 'date'),
    'complaints': ('opened_at', 'timestamp')} %}

with
{%- for entity, (date_column, date_type) in entities.items() %}
{{ entity }}_loaded as (
    select _load_batch_id, cast({{ dbt.date_trunc('month', date_column) }} as date) as period_start
    from {{ source('raw', entity) }}
),

{{ entity }}_batch_months as (
    select _load_batch_id, min(period_start) as period_start from {{ entity }}_loaded group by _load_batch_id
),

{{ entity }}_quarantined as (
    select
        coalesce(
            cast({{ dbt.date_trunc('month', try_cast(date_column, date_type)) }} as date),
            batches.period_start
        ) as period_start
    from {{ source('quarantine', entity) }} as rejected
    left join {{ entity }}_batch_months as batches on batches._load_batch_id = rejected._load_batch_id
),

{{ entity }}_shares as (
    select
        '{{ entity }}' as entity,
        coalesce(loaded.period_start, quarantined.period_start) as period_start,
        coalesce(loaded.rows_loaded, 0) as rows_loaded,
        coalesce(quarantined.rows_quarantined, 0) as rows_quarantined
    from (select period_start, count(*) as rows_loaded from {{ entity }}_loaded group by period_start) as loaded
    full outer join (
        select period_start, count(*) as rows_quarantined from {{ entity }}_quarantined group by period_start
    ) as quarantined on quarantined.period_start = loaded.period_start
),
{%- endfor %}

all_shares as (
    {%- for entity in entities %}
    select * from {{ entity }}_shares
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    entity,
    case when period_start is null then null else 'month' end as period_grain,
    period_start,
    rows_loaded,
    rows_quarantined,
    rows_loaded + rows_quarantined as rows_read,
    cast(rows_quarantined as {{ type_double() }}) / (rows_loaded + rows_quarantined) as quarantine_share,
    case
        when rows_loaded + rows_quarantined >= {{ var('gate_quarantine_min_rows', 100) }}
            then cast(rows_quarantined as {{ type_double() }}) / (rows_loaded + rows_quarantined)
    end as gated_share
from all_shares
