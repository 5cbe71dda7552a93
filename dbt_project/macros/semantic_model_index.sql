{#-
  The semantic models' measures as dbt parsed them (graph.semantic_models), for the lineage model
  batch_contributions (macros/lineage.sql). The KPI models are generated in Python from the same
  definitions (dagster_project/kpis/graph.py and compiler.py).
-#}

{#- measure name → {measure, semantic_model, time_dimension, org_unit_expr} -#}
{%- macro kpi_measure_index() -%}
    {%- set index = {} -%}
    {%- for model in graph.semantic_models.values() -%}
        {%- set org = namespace(expr=none) -%}
        {%- for entity in model.entities if entity.name == 'org_unit' -%}
            {%- set org.expr = entity.expr or entity.name -%}
        {%- endfor -%}
        {%- for measure in model.measures -%}
            {%- set time_name = measure.agg_time_dimension or model.defaults.agg_time_dimension -%}
            {%- set time = namespace(expr=time_name) -%}
            {%- for dimension in model.dimensions if dimension.name == time_name and dimension.expr -%}
                {%- set time.expr = dimension.expr -%}
            {%- endfor -%}
            {%- do index.update({measure.name: {
                'measure': measure, 'model': model, 'time_expr': time.expr, 'org_expr': org.expr}}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(index) }}
{%- endmacro -%}

{#- A model must depend on every fact model it reads, or dbt could build it first. -#}
{%- macro kpi_check_dependency(semantic_model) -%}
    {%- set required = semantic_model.depends_on.nodes -%}
    {%- for node_id in required if node_id not in model.depends_on.nodes -%}
        {{ exceptions.raise_compiler_error("KPI compiler: semantic model '" ~ semantic_model.name ~ "' reads " ~ node_id ~ ", which " ~ model.name ~ " does not depend on; add `-- depends_on: {{ ref('" ~ node_id.split('.')[-1] ~ "') }}` to " ~ model.original_file_path) }}
    {%- endfor -%}
{%- endmacro -%}
