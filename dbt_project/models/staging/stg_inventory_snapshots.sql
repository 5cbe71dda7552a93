-- Staging: the current version of every inventory_snapshots row, typed by the extractor; rename and
-- cast only.
with source as (
    select * from {{ source('raw', 'inventory_snapshots') }}
),

current_rows as (
    select
        snapshot_date,
        org_unit_id,
        sku,
        on_hand_qty,
        unit_cost,
        _load_batch_id as load_batch_id
    from source
    where _superseded_by_batch_id is null
)

select * from current_rows
