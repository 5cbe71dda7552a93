{#- Every org unit reaches the root within the closure's depth (var max_org_depth): a unit whose
    deepest ancestor still has a parent would be missing ancestors. -#}
{% test org_hierarchy_within_depth(model) %}
with deepest as (
    select org_unit_id, max(depth) as depth from {{ model }} group by org_unit_id
)
select deepest.org_unit_id
from deepest
inner join {{ model }} as closure
    on closure.org_unit_id = deepest.org_unit_id and closure.depth = deepest.depth
inner join {{ ref('stg_org_units') }} as units on units.org_unit_id = closure.ancestor_org_unit_id
where units.parent_org_unit_id is not null
{% endtest %}
