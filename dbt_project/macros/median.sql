{#- The median of an expression as an aggregate: percentile_cont(0.5) is the SQL standard's ordered-set
    aggregate (Postgres, Snowflake, Trino's approx_percentile aside, Spark 3.4+, DuckDB). Dispatched so an
    engine that spells it differently gets its own implementation beside this one. -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'kpi_pipeline')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    percentile_cont(0.5) within group (order by {{ expression }})
{%- endmacro %}
