{#-
  The month window of a partitioned run. Dagster passes the run's window in environment variables:
  its bounds, computed by dagster_project/periods.py (MonthWindow.bounds) and named in
  dagster_project/defs/partitions.py (DBT_WINDOW_ENV), as YYYY-MM-DD: KPI_MONTH_FROM and KPI_MONTH_TO
  (first days of the first and last month), KPI_MONTH_END (the day after the window), and for quarters
  and years KPI_QUARTER_FIRST / _LAST / _END and KPI_YEAR_FIRST / _LAST / _END (first days of the first
  and last period of the grain in the window, the day after the last). This macro only reads them: the
  calendar is periods.py's. Incremental models then replace only the rows of those months (facts) or
  of those months and the quarters and years they belong to (kpi_values). Without them, or when a
  model is built from scratch, every month is computed.
  Environment variables, not --vars: dbt re-parses the whole project (~6 s) whenever the vars
  differ from the last parse's, so every month run would pay a full parse. The variables are read
  only at execution (is_incremental() is false while parsing), so dbt never records them as
  parse inputs and partial parsing stays valid.
-#}

{#- {first, last, end, quarter_first, quarter_last, quarter_end, year_first, year_last, year_end} or none -#}
{%- macro kpi_month_window() -%}
    {%- if not is_incremental() -%}{{ return(none) }}{%- endif -%}
    {%- if not env_var('KPI_MONTH_FROM', '') or not env_var('KPI_MONTH_TO', '') -%}{{ return(none) }}{%- endif -%}
    {%- set variables = {
        'first': 'KPI_MONTH_FROM', 'last': 'KPI_MONTH_TO', 'end': 'KPI_MONTH_END',
        'quarter_first': 'KPI_QUARTER_FIRST', 'quarter_last': 'KPI_QUARTER_LAST', 'quarter_end': 'KPI_QUARTER_END',
        'year_first': 'KPI_YEAR_FIRST', 'year_last': 'KPI_YEAR_LAST', 'year_end': 'KPI_YEAR_END'} -%}
    {%- set window = {} -%}
    {%- for bound, variable in variables.items() -%}
        {%- set text = env_var(variable, '') -%}
        {%- if not text -%}
            {{ exceptions.raise_compiler_error("KPI_MONTH_FROM and KPI_MONTH_TO are set but " ~ variable ~ " is not: "
                ~ "a window's bounds come from dagster_project/defs/partitions.py (dbt_window_env)") }}
        {%- endif -%}
        {%- do window.update({bound: modules.datetime.datetime.strptime(text | string, '%Y-%m-%d').date()}) -%}
    {%- endfor -%}
    {%- if window.first > window.last -%}
        {{ exceptions.raise_compiler_error("KPI_MONTH_FROM (" ~ window.first ~ ") is after KPI_MONTH_TO (" ~ window.last ~ ")") }}
    {%- endif -%}
    {{ return(window) }}
{%- endmacro -%}

{#- Months shifted for the offset metrics' windows (kpi_shift_date): the offsets are the metrics'. -#}
{%- macro kpi_add_months(day, months) -%}
    {%- set index = day.year * 12 + day.month - 1 + months -%}
    {{ return(modules.datetime.date(index // 12, index % 12 + 1, 1)) }}
{%- endmacro -%}

{#- A date shifted by a MetricFlow offset window (count, granularity), in Jinja. -#}
{%- macro kpi_shift_date(day, count, granularity) -%}
    {%- if granularity == 'year' -%}{{ return(kpi_add_months(day, 12 * count)) }}
    {%- elif granularity == 'quarter' -%}{{ return(kpi_add_months(day, 3 * count)) }}
    {%- elif granularity == 'month' -%}{{ return(kpi_add_months(day, count)) }}
    {%- elif granularity == 'week' -%}{{ return(day + modules.datetime.timedelta(days=7 * count)) }}
    {%- else -%}{{ return(day + modules.datetime.timedelta(days=count)) }}
    {%- endif -%}
{%- endmacro -%}

{%- macro kpi_date_literal(day) -%}
    {{ return("cast('" ~ day.isoformat() ~ "' as date)") }}
{%- endmacro -%}

{#- Rows of the window's months: `column` (a date or timestamp) in [first, end). `1 = 1` without a window. -#}
{%- macro kpi_in_month_window(column) -%}
    {%- set window = kpi_month_window() -%}
    {%- if window is none -%}{{ return('1 = 1') }}{%- endif -%}
    {{ return(column ~ ' >= ' ~ kpi_date_literal(window.first) ~ ' and ' ~ column ~ ' < ' ~ kpi_date_literal(window.end)) }}
{%- endmacro -%}

{#- Periods (grain, start) the window recomputes; with `shift` (count, granularity) the periods that
    many units earlier, whose measures an offset metric (growth vs last year) reads. -#}
{%- macro kpi_periods_in_window(window, grain_column, start_column, shift=none) -%}
    {%- set bounds = {'month': [window.first, window.last], 'quarter': [window.quarter_first, window.quarter_last],
                      'year': [window.year_first, window.year_last]} -%}
    {%- set conditions = [] -%}
    {%- for grain, pair in bounds.items() -%}
        {%- set low = kpi_shift_date(pair[0], -1 * shift[0], shift[1]) if shift else pair[0] -%}
        {%- set high = kpi_shift_date(pair[1], -1 * shift[0], shift[1]) if shift else pair[1] -%}
        {%- do conditions.append("(" ~ grain_column ~ " = '" ~ grain ~ "' and " ~ start_column ~ " between "
                                 ~ kpi_date_literal(low) ~ " and " ~ kpi_date_literal(high) ~ ")") -%}
    {%- endfor -%}
    {{ return('(' ~ conditions | join(' or ') ~ ')') }}
{%- endmacro -%}

{#- The facts of a grain's periods in a window: `column` in [first day, day after) of that grain's
    periods of the window. -#}
{%- macro kpi_fact_range(window, grain, column) -%}
    {%- set bounds = kpi_grain_bounds(window, grain) -%}
    {{ return('(' ~ column ~ ' >= ' ~ kpi_date_literal(bounds[0]) ~ ' and ' ~ column ~ ' < ' ~ kpi_date_literal(bounds[1]) ~ ')') }}
{%- endmacro -%}

{#- The facts the offset metrics of a grain compare with (`off_<count>_<granularity>`, as the KPI
    compiler names them): the grain's window periods shifted back by each offset, minus the window's
    own periods (kpi_fact_range), so that the two sets of rows, and the periods they group into, are
    disjoint. -#}
{%- macro kpi_offset_fact_ranges(window, grain, offsets, column) -%}
    {%- set bounds = kpi_grain_bounds(window, grain) -%}
    {%- set conditions = [] -%}
    {%- for offset in offsets -%}
        {%- set parts = offset.split('_') -%}
        {%- set low = kpi_shift_date(bounds[0], -1 * (parts[1] | int), parts[2]) -%}
        {%- set high = kpi_shift_date(bounds[1], -1 * (parts[1] | int), parts[2]) -%}
        {%- do conditions.append('(' ~ column ~ ' >= ' ~ kpi_date_literal(low) ~ ' and ' ~ column ~ ' < ' ~ kpi_date_literal(high) ~ ')') -%}
    {%- endfor -%}
    {{ return('(' ~ conditions | join(' or ') ~ ') and not ' ~ kpi_fact_range(window, grain, column)) }}
{%- endmacro -%}

{#- [first day, day after the last] of a grain's periods in a window. -#}
{%- macro kpi_grain_bounds(window, grain) -%}
    {{ return({'month': [window.first, window.end], 'quarter': [window.quarter_first, window.quarter_end],
               'year': [window.year_first, window.year_end]}[grain]) }}
{%- endmacro -%}

{#- How the month-partitioned models are materialized: incremental (delete+insert of the window's
    rows) on DuckDB. On Spark they are rebuilt whole on every run: dbt-spark's merge needs Delta,
    Iceberg or Hudi tables and insert_overwrite physically partitioned ones, not the plain Parquet
    tables of the local engine (docs/scale_out.md says how to switch on Databricks). -#}
{%- macro kpi_partitioned_materialization() -%}
    {{ return('table' if target.type == 'spark' else 'incremental') }}
{%- endmacro -%}

{#- The incremental strategy that replaces rows by key. -#}
{%- macro kpi_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro -%}
