-- Additive KPIs: the root's value equals the sum over the leaves (units without children), exactly.
-- Values are compared as decimals with four places, the precision of the amounts they add up.
with units as (
    select org_unit_id, parent_org_unit_id from {{ ref('stg_org_units') }}
),

parents as (
    select distinct parent_org_unit_id as org_unit_id
    from units
    where parent_org_unit_id is not null
),

leaves as (
    select units.org_unit_id
    from units
    left join parents on units.org_unit_id = parents.org_unit_id
    where parents.org_unit_id is null
),

roots as (
    select org_unit_id from units where parent_org_unit_id is null
),

additive_values as (
    select
        kpi_id,
        period_grain,
        period_start,
        org_unit_id,
        cast(round(value, 4) as decimal(38, 4)) as value
    from {{ ref('kpi_values') }}
    where kpi_id in ('net_revenue', 'new_customers')
)

select
    additive_values.period_grain,
    additive_values.period_start,
    additive_values.kpi_id,
    max(case when roots.org_unit_id is not null then additive_values.value end) as root_value,
    sum(case when leaves.org_unit_id is not null then additive_values.value end) as leaves_total
from additive_values
left join roots on additive_values.org_unit_id = roots.org_unit_id
left join leaves on additive_values.org_unit_id = leaves.org_unit_id
group by 1, 2, 3
