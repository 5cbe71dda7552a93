{#-
  The plausibility window of the source data (docs/data_contract.md, "Plausible dates"): the
  extractor quarantines rows dated outside it, and the calendar (int_calendar_days) and so every
  period grid never reach beyond it, whatever date the data holds. Dagster passes it in the
  environment variables KPI_DATE_FROM (YYYY-MM-DD, the first plausible date) and
  KPI_DATE_FUTURE_DAYS (days after the current date); dagster_project/contract/window.py.
  Read at execution only, as the month window (macros/partition_window.sql), so partial parsing
  stays valid. Without them (dbt run by hand, `dbt docs generate`) the window of the default
  settings applies: still bounded. The defaults below = default_date_window() in
  dagster_project/settings.py (KPI_FIRST_MONTH 2024-01 minus 12 months; 7 days); a test keeps
  them in step.
-#}

{#- {'from': SQL date expression, 'to': SQL date expression} -#}
{%- macro kpi_date_window() -%}
    {%- if not execute -%}
        {{ return({'from': "cast('2000-01-01' as date)", 'to': "cast('2000-12-31' as date)"}) }}
    {%- endif -%}
    {%- set first = env_var('KPI_DATE_FROM', '') or '2023-01-01' -%}
    {%- set days = env_var('KPI_DATE_FUTURE_DAYS', '') or '7' -%}
    {%- set first = modules.datetime.datetime.strptime(first | string, '%Y-%m-%d').date() -%}
    {%- if not (days | string).isdigit() -%}
        {{ exceptions.raise_compiler_error("KPI_DATE_FUTURE_DAYS=" ~ days ~ " is not a whole number of days") }}
    {%- endif -%}
    {{ return({'from': kpi_date_literal(first),
               'to': "cast(" ~ dbt.dateadd('day', days | int, 'current_date') ~ " as date)"}) }}
{%- endmacro -%}
