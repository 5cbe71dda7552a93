-- Every KPI value against the range its definition allows (valid_range in kpi_definitions/).
select
    kpi_rows.period_grain,
    kpi_rows.period_start,
    kpi_rows.org_unit_id,
    kpi_rows.kpi_id,
    kpi_rows.value,
    kpis.valid_min,
    kpis.valid_max,
    coalesce(kpi_rows.value < kpis.valid_min or kpi_rows.value > kpis.valid_max, false) as is_out_of_range
from {{ ref('kpi_values') }} as kpi_rows
inner join {{ ref('kpi_dictionary') }} as kpis on kpi_rows.kpi_id = kpis.kpi_id
