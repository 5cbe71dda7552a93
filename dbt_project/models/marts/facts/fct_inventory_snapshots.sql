-- One row per current inventory snapshot (unit, product, date) with its value at cost.
{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key=['snapshot_date', 'org_unit_id', 'sku'],
    on_schema_change='append_new_columns',
) }}
with snapshots as (
    select * from {{ ref('stg_inventory_snapshots') }}
),

final as (
    select
        snapshot_date,
        org_unit_id,
        sku,
        on_hand_qty,
        on_hand_qty * unit_cost as inventory_value,
        on_hand_qty = 0 as is_stockout,
        load_batch_id
    from snapshots
    {% if is_incremental() %}
    where {{ kpi_in_month_window('snapshot_date') }}
    {% endif %}
)

select * from final
