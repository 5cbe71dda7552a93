-- The KPI dictionary, generated from the metric definitions in kpi_definitions/ (kpi_compiler macro).
{{ compile_kpi_dictionary() }}
