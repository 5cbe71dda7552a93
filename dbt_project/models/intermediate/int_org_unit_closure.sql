-- Org-unit closure bridge: one row per (ancestor, descendant) pair, including each unit with itself
-- at depth 0, so that joining facts on the descendant gives every ancestor its whole subtree.
-- Built with a fixed number of self-joins rather than a recursive CTE, which not every engine has;
-- a test fails if the hierarchy is deeper than `max_org_depth`.
{%- set max_depth = var('max_org_depth', 8) %}

with units as (
    select org_unit_id, parent_org_unit_id from {{ ref('stg_org_units') }}
),

chains as (
    select
        {% for depth in range(1, max_depth + 1) %}
        u{{ depth - 1 }}.parent_org_unit_id as level_{{ depth }},
        {% endfor %}
        u0.org_unit_id as level_0
    from units as u0
    {% for depth in range(1, max_depth) %}
    left join units as u{{ depth }} on u{{ depth - 1 }}.parent_org_unit_id = u{{ depth }}.org_unit_id
    {% endfor %}
),

pairs as (
    {%- for depth in range(0, max_depth + 1) %}
    select level_{{ depth }} as ancestor_org_unit_id, level_0 as org_unit_id, {{ depth }} as depth
    from chains
    where level_{{ depth }} is not null
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select ancestor_org_unit_id, org_unit_id, depth from pairs
