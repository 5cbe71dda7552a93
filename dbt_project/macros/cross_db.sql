{#- Engine-specific pieces live here, dispatched, so the models stay portable (DESIGN: portable SQL). -#}

{#- 8-byte floating point: dbt's type_float() is a 4-byte REAL on some engines. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'kpi_pipeline')()) }}
{%- endmacro %}

{% macro default__type_double() -%}double precision{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}

{% macro spark__type_double() -%}double{%- endmacro %}

{#- A cast that gives NULL instead of failing (dbt.safe_cast is a plain CAST on dbt-duckdb). -#}
{% macro try_cast(expression, type) -%}
    {{ return(adapter.dispatch('try_cast', 'kpi_pipeline')(expression, type)) }}
{%- endmacro %}

{% macro default__try_cast(expression, type) -%}try_cast({{ expression }} as {{ type }}){%- endmacro %}
