{#- The median of an expression, as an aggregate. percentile_cont(0.5) within group (order by …) is the SQL
    standard's ordered-set aggregate: DuckDB, Postgres, Snowflake and Spark (checked on Spark 4) run it.
    Dispatched so an engine without it gets its own version beside this one (Trino: approx_percentile). -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'kpi_pipeline')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
