{#-
  Lineage of the KPI values: which load batch (landing file) delivered the fact rows of each org
  unit and month, per semantic model. Generated from graph.semantic_models like the KPI compiler,
  so a new fact model is covered without SQL. Every fact model carries `load_batch_id`, the batch of
  the row that feeds the KPIs (docs/audit.md); the publisher rolls these rows up the org hierarchy
  and into quarters and years for each published value.
-#}
{%- macro compile_batch_contributions() -%}
{%- if not execute -%}
    {#- Parsing: graph is empty; the contract's column list is what dbt needs now. -#}
    select
        cast(null as {{ dbt.type_string() }}) as semantic_model,
        cast(null as {{ dbt.type_bigint() }}) as load_batch_id,
        cast(null as {{ dbt.type_string() }}) as org_unit_id,
        cast(null as date) as month_start,
        cast(null as {{ dbt.type_bigint() }}) as row_count
{%- else -%}
    {%- set index = kpi_measure_index() -%}
    {%- set sources = {} -%}
    {%- for entry in index.values() if entry.org_expr and entry.model.name not in sources -%}
        {%- do sources.update({entry.model.name: entry}) -%}
        {%- do kpi_check_dependency(entry.model) -%}
    {%- endfor -%}
    {%- for name, source in sources | dictsort %}
select
    cast('{{ name }}' as {{ dbt.type_string() }}) as semantic_model,
    cast(facts.load_batch_id as {{ dbt.type_bigint() }}) as load_batch_id,
    cast(facts.{{ source.org_expr }} as {{ dbt.type_string() }}) as org_unit_id,
    cast({{ dbt.date_trunc('month', 'facts.' ~ source.time_expr) }} as date) as month_start,
    count(*) as row_count
from {{ source.model.node_relation.relation_name }} as facts
group by 1, 2, 3, 4
{% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endif -%}
{%- endmacro -%}
