-- The org-unit dimension: one row per current org unit with its attributes and its place in the
-- hierarchy (from the closure, int_org_unit_closure): how deep it sits below the root, its root,
-- and whether it is a leaf. The KPI models (dagster_project/kpis/compiler.py) and the scorecard read the
-- org units here; facts are rolled up the hierarchy through the closure itself.
with units as (
    select
        org_unit_id,
        org_unit_name,
        org_unit_name_zh,
        parent_org_unit_id,
        unit_type
    from {{ ref('stg_org_units') }}
),

closure as (
    select ancestor_org_unit_id, org_unit_id, depth from {{ ref('int_org_unit_closure') }}
),

deepest as (
    select org_unit_id, max(depth) as depth
    from closure
    group by org_unit_id
),

ancestry as (
    -- the deepest ancestor of a unit is its root (the unit itself for the root)
    select
        closure.org_unit_id,
        closure.depth,
        closure.ancestor_org_unit_id as root_org_unit_id
    from closure
    inner join deepest
        on closure.org_unit_id = deepest.org_unit_id and closure.depth = deepest.depth
),

subtrees as (
    select ancestor_org_unit_id as org_unit_id, count(*) - 1 as descendant_count
    from closure
    group by ancestor_org_unit_id
)

select
    units.org_unit_id,
    units.org_unit_name,
    units.org_unit_name_zh,
    units.parent_org_unit_id,
    units.unit_type,
    ancestry.root_org_unit_id,
    ancestry.depth,
    subtrees.descendant_count = 0 as is_leaf,
    subtrees.descendant_count
from units
left join ancestry on units.org_unit_id = ancestry.org_unit_id
left join subtrees on units.org_unit_id = subtrees.org_unit_id
