{#-
  The month window of a partitioned run. Dagster passes the run's months in the environment
  variables KPI_MONTH_FROM and KPI_MONTH_TO (first days of the first and last month, YYYY-MM-DD;
  dagster_project/defs/partitions.py). Incremental models then replace only the rows of those
  months (facts) or of those months and the quarters and years they belong to (kpi_values). Without
  them, or when a model is built from scratch, every month is computed.
  Environment variables, not --vars: dbt re-parses the whole project (~6 s) whenever the vars
  differ from the last parse's, so every month run would pay a full parse. The variables are read
  only at execution (is_incremental() is false while parsing), so dbt never records them as
  parse inputs and partial parsing stays valid.
-#}

{#- {first, last, end (first day after the window), quarter_first, quarter_last, year_first, year_last} or none -#}
{%- macro kpi_month_window() -%}
    {%- if not is_incremental() -%}{{ return(none) }}{%- endif -%}
    {%- set first = env_var('KPI_MONTH_FROM', '') -%}
    {%- set last = env_var('KPI_MONTH_TO', '') -%}
    {%- if not first or not last -%}{{ return(none) }}{%- endif -%}
    {%- set parse = modules.datetime.datetime.strptime -%}
    {%- set first = parse(first | string, '%Y-%m-%d').date().replace(day=1) -%}
    {%- set last = parse(last | string, '%Y-%m-%d').date().replace(day=1) -%}
    {%- if first > last -%}
        {{ exceptions.raise_compiler_error("KPI_MONTH_FROM (" ~ first ~ ") is after KPI_MONTH_TO (" ~ last ~ ")") }}
    {%- endif -%}
    {{ return({
        'first': first, 'last': last, 'end': kpi_add_months(last, 1),
        'quarter_first': first.replace(month=3 * ((first.month - 1) // 3) + 1),
        'quarter_last': last.replace(month=3 * ((last.month - 1) // 3) + 1),
        'year_first': first.replace(month=1), 'year_last': last.replace(month=1)}) }}
{%- endmacro -%}

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
    {{ return({'month': [window.first, kpi_add_months(window.last, 1)],
               'quarter': [window.quarter_first, kpi_add_months(window.quarter_last, 3)],
               'year': [window.year_first, kpi_add_months(window.year_last, 12)]}[grain]) }}
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
