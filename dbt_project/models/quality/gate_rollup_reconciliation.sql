-- Additive KPIs: the root's value equals the sum over the leaves (units without children), exactly.
-- Values are compared as decimals with four places, the precision of the amounts they add up.
{%- set additive = ['net_revenue', 'new_customers'] %}
with units as (
    select org_unit_id, parent_org_unit_id from {{ ref('stg_org_units') }}
),

leaves as (
    select org_unit_id from units
    where org_unit_id not in (select parent_org_unit_id from units where parent_org_unit_id is not null)
),

roots as (
    select org_unit_id from units where parent_org_unit_id is null
),

additive_values as (
    select kpi_id, period_grain, period_start, org_unit_id, cast(round(value, 4) as decimal(38, 4)) as value
    from {{ ref('kpi_values') }}
    where kpi_id in ('{{ additive | join("', '") }}')
)

select
    additive_values.period_grain,
    additive_values.period_start,
    additive_values.kpi_id,
    max(case when additive_values.org_unit_id in (select org_unit_id from roots) then additive_values.value end) as root_value,
    sum(case when additive_values.org_unit_id in (select org_unit_id from leaves) then additive_values.value end) as leaves_total
from additive_values
group by 1, 2, 3
