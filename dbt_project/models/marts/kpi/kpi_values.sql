-- Every KPI for every org unit and every month, quarter and year, compiled from the metric
-- definitions in kpi_definitions/ by the kpi_compiler macro: add a KPI there, not here.
-- The compiler reads these fact models; a KPI over a new one needs its line here.
-- depends_on: {{ ref('fct_sales_lines') }}
-- depends_on: {{ ref('fct_returns') }}
-- depends_on: {{ ref('fct_inventory_snapshots') }}
-- depends_on: {{ ref('fct_survey_responses') }}
-- depends_on: {{ ref('fct_complaints') }}
-- depends_on: {{ ref('fct_new_customers') }}
-- depends_on: {{ ref('int_calendar_days') }}
-- and the org units, their closure and the periods every KPI is computed for:
-- depends_on: {{ ref('dim_org_units') }}
-- depends_on: {{ ref('int_org_unit_closure') }}
-- depends_on: {{ ref('int_periods') }}

-- Incremental: a partitioned run (KPI_MONTH_FROM/KPI_MONTH_TO) replaces the rows of its months
-- and of the quarters and years they belong to; see macros/partition_window.sql.
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key=['kpi_id', 'period_grain', 'period_start', 'org_unit_id'],
    on_schema_change='fail',
) }}

{{ compile_kpi_values() }}
