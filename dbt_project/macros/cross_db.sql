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

{#- The on-run-start hook: make the extracted sources (raw.*, quarantine.*) visible to the engine.
    DuckDB reads them from the warehouse file, nothing to do. Spark's catalog lives in memory (one
    per process in the gate, Derby for dbt), so each run registers every source as a Parquet table over
    its folder <spark-warehouse>/<schema>.db/<table>, where the extraction lands it. -#}
{% macro register_sources() -%}
    {{ return(adapter.dispatch('register_sources', 'kpi_pipeline')()) }}
{%- endmacro %}

{% macro default__register_sources() -%}{%- endmacro %}

{% macro spark__register_sources() -%}
    {%- if execute -%}
        {%- set root = env_var('KPI_DATA_DIR', '../data') ~ '/spark-warehouse' -%}
        {%- for source in graph.sources.values() | sort(attribute='unique_id') -%}
            {%- do run_query('create schema if not exists ' ~ source.schema) -%}
            {%- do run_query(
                'create table if not exists ' ~ source.schema ~ '.' ~ source.identifier
                ~ " using parquet location '" ~ root ~ '/' ~ source.schema ~ '.db/' ~ source.identifier ~ "'") -%}
            {#- the extraction replaces the folder: read its files anew -#}
            {%- do run_query('refresh table ' ~ source.schema ~ '.' ~ source.identifier) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{#- dbt's own cross-database type macros, where an engine needs another form: dbt looks here first
    (dispatch search order in dbt_project.yml). dbt-spark's type_string() gives `varchar`, which
    Spark 4 only accepts with a length. -#}
{% macro spark__type_string() -%}string{%- endmacro %}

{#- An input metric inside a derived metric's expression (KPI compiler). DuckDB divides decimals in
    double precision; Spark keeps a decimal quotient with 6 decimal places, so there the inputs are
    doubles before the expression combines them. -#}
{% macro kpi_derived_input(sql) -%}
    {{ return(adapter.dispatch('kpi_derived_input', 'kpi_pipeline')(sql)) }}
{%- endmacro %}

{% macro default__kpi_derived_input(sql) -%}({{ sql }}){%- endmacro %}

{% macro spark__kpi_derived_input(sql) -%}cast(({{ sql }}) as {{ type_double() }}){%- endmacro %}
