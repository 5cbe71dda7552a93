{#- The join condition "the same KPI series" of two relations: the same KPI, org unit and period grain,
    and (unless same_period=false, when the caller matches the period itself, e.g. with an offset) the
    same period start. A KPI value is keyed by these four columns wherever it appears; the scorecard and
    the early warnings join values, targets and history on them. -#}
{% macro same_kpi_value(left, right, same_period=true) -%}
    {{ left }}.kpi_id = {{ right }}.kpi_id
    and {{ left }}.org_unit_id = {{ right }}.org_unit_id
    and {{ left }}.period_grain = {{ right }}.period_grain
    {%- if same_period %}
    and {{ left }}.period_start = {{ right }}.period_start
    {%- endif %}
{%- endmacro %}
