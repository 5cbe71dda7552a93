-- Per fact entity and month: rows loaded and rows quarantined, for the gate's quarantine-share
-- check. `gated_share` is the share only where the rows counted number at least
-- `gate_quarantine_min_rows` (default 100): below that one bad row is already several percent, so
-- the share is only warned about, not gated (docs/quality_gate.md).
-- - scope 'month': the rows of a month, counting only quarantined rows whose own date parses.
-- - scope 'file': for each file (batch) with quarantined rows whose date does not parse, the file as
--   a whole (all of its bad rows over all of its rows), one row per month the file feeds, so a share
--   above the threshold blocks every month the file feeds and one below blocks nothing. A file that
--   fed no month (every row bad, none dated) has one row without a period: it blocks every period.
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

{{ entity }}_quarantined as (
    select
        _load_batch_id,
        cast({{ dbt.date_trunc('month', try_cast(date_column, date_type)) }} as date) as period_start
    from {{ source('quarantine', entity) }}
),

{{ entity }}_loaded_months as (
    select period_start, count(*) as rows_loaded
    from {{ entity }}_loaded
    group by period_start
),

{{ entity }}_quarantined_months as (
    select period_start, count(*) as rows_quarantined
    from {{ entity }}_quarantined
    where period_start is not null
    group by period_start
),

{{ entity }}_month_shares as (
    select
        '{{ entity }}' as entity,
        'month' as scope,
        cast(null as bigint) as load_batch_id,
        coalesce(loaded.period_start, quarantined.period_start) as period_start,
        coalesce(loaded.rows_loaded, 0) as rows_loaded,
        coalesce(quarantined.rows_quarantined, 0) as rows_quarantined
    from {{ entity }}_loaded_months as loaded
    full outer join {{ entity }}_quarantined_months as quarantined
        on loaded.period_start = quarantined.period_start
),

{{ entity }}_undated_files as (
    select
        _load_batch_id,
        count(*) as rows_quarantined
    from {{ entity }}_quarantined
    group by _load_batch_id
    having sum(case when period_start is null then 1 else 0 end) > 0
),

{{ entity }}_file_months as (
    select _load_batch_id, period_start, count(*) as rows_loaded
    from {{ entity }}_loaded group by _load_batch_id, period_start
    union all
    select distinct _load_batch_id, period_start, 0 as rows_loaded
    from {{ entity }}_quarantined where period_start is not null
),

{{ entity }}_file_totals as (
    select _load_batch_id, sum(rows_loaded) as rows_loaded
    from {{ entity }}_file_months
    group by _load_batch_id
),

{{ entity }}_file_periods as (
    select distinct _load_batch_id, period_start
    from {{ entity }}_file_months
),

{{ entity }}_file_shares as (
    select
        '{{ entity }}' as entity,
        'file' as scope,
        files._load_batch_id as load_batch_id,
        months.period_start,
        coalesce(totals.rows_loaded, 0) as rows_loaded,
        files.rows_quarantined
    from {{ entity }}_undated_files as files
    left join {{ entity }}_file_totals as totals on files._load_batch_id = totals._load_batch_id
    left join {{ entity }}_file_periods as months on files._load_batch_id = months._load_batch_id
),
{%- endfor %}

all_shares as (
    {%- for entity in entities %}
    select * from {{ entity }}_month_shares
    union all
    select * from {{ entity }}_file_shares
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    entity,
    scope,
    load_batch_id,
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
