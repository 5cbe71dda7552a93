{#- Schemas are named exactly as configured (staging, intermediate, marts, kpi), not prefixed with
    the target schema: BI tools and the gate refer to them by these stable names. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
