"""Extract assets: one per contract entity, loading new landing files into `raw.<entity>`."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project.contract import Contract, Entity, load_contract
from dagster_project.defs.resources import WAREHOUSE_POOL, LandingZone
from dagster_project.extract.loader import EntityLoadResult, load_entity, top_quarantine_reasons

TRANSIENT_RETRIES = 3


def raw_asset_key(entity: str) -> dg.AssetKey:
    """Matches dagster-dbt's default key for dbt source `raw.<entity>`, so dbt models attach to it."""
    return dg.AssetKey(["raw", entity])


def landing_asset_key(entity: str) -> dg.AssetKey:
    return dg.AssetKey(["landing", entity])


def build_landing_spec(entity: Entity) -> dg.AssetSpec:
    """The landing folder of an entity: external data the pipeline reads, never writes; shown so the
    asset graph runs from the files to the published scorecard (docs/audit.md)."""
    return dg.AssetSpec(
        key=landing_asset_key(entity.name),
        group_name=entity.group,
        description=f"Landing files of `{entity.name}` (CSV or Parquet, source data contract v1), "
        f"in `$KPI_LANDING_DIR/{entity.name}/`; each is logged with its SHA-256 when loaded.",
        kinds={"csv", "parquet"},
        metadata={"contract_entity": entity.name},
    )


def build_extract_asset(entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(entity.name),
        group_name=entity.group,
        deps=[landing_asset_key(entity.name), *(raw_asset_key(name) for name in entity.upstream_entities)],
        description=f"{entity.description} Loaded from the landing folder `{entity.name}/` "
        "under source data contract v1; bad rows go to `quarantine."
        f"{entity.name}`, every file to `audit.load_batches`.",
        kinds={"duckdb", "csv", "parquet"},
        pool=WAREHOUSE_POOL,
        metadata={"contract_entity": entity.name, "key": ", ".join(entity.key)},
    )
    def extract(
        context: dg.AssetExecutionContext, landing: LandingZone, warehouse: DuckDBResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
        Path(warehouse.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            with warehouse.get_connection() as con:
                result = load_entity(
                    con,
                    load_contract(),
                    entity.name,
                    landing.root,
                    run_id=context.run_id,
                    date_window=landing.date_window,
                )
                reasons = top_quarantine_reasons(
                    con, entity.name, [b.batch_id for b in result.loaded_files if b.batch_id]
                )
                current_rows = con.execute(
                    f"select count(*) from raw.{entity.name} where _superseded_by_batch_id is null"
                ).fetchone()[0]
        except duckdb.IOException as error:
            # Transient (file locked by another process, disk hiccup): retry with backoff. A file's
            # batch is one transaction, so a retry resumes after the last committed file.
            raise dg.RetryRequested(
                max_retries=TRANSIENT_RETRIES, seconds_to_wait=5 * 2**context.retry_number
            ) from error
        metadata = _load_metadata(result, reasons, current_rows)
        if result.failed_files:
            # The good files are committed: record that, then fail so the run shows the broken file.
            yield dg.AssetMaterialization(asset_key=context.asset_key, metadata=metadata)
            failures = "; ".join(f"{b.file_name}: {b.error}" for b in result.failed_files)
            raise dg.Failure(
                description=f"{len(result.failed_files)} {entity.name} file(s) could not be loaded "
                f"and nothing of them was: {failures}",
                metadata=metadata,
                allow_retries=False,
            )
        context.log.info(
            f"{entity.name}: {len(result.loaded_files)} new file(s), {result.rows_loaded} rows loaded, "
            f"{result.rows_quarantined} quarantined, {len(result.skipped_files)} already loaded"
        )
        yield dg.MaterializeResult(metadata=metadata)

    return extract


def _load_metadata(
    result: EntityLoadResult, reasons: list[tuple[str, int]], current_rows: int
) -> dict[str, dg.MetadataValue]:
    batches = "\n".join(
        f"| {b.file_name} | {b.status} | {b.rows_read} | {b.rows_loaded} | {b.rows_quarantined} "
        f"| {b.rows_superseded} | {b.error or ''} |"
        for b in result.batches
        if b.status != "skipped"
    )
    table = (
        "| file | status | read | loaded | quarantined | superseded | error |\n|---|---|---|---|---|---|---|\n"
        + batches
        if batches
        else "No new files."
    )
    reason_lines = "\n".join(f"- {count} × {reason}" for reason, count in reasons) or "None."
    return {
        "files_loaded": dg.MetadataValue.int(len(result.loaded_files)),
        "files_skipped": dg.MetadataValue.int(len(result.skipped_files)),
        "files_failed": dg.MetadataValue.int(len(result.failed_files)),
        "rows_read": dg.MetadataValue.int(result.rows_read),
        "rows_loaded": dg.MetadataValue.int(result.rows_loaded),
        "rows_quarantined": dg.MetadataValue.int(result.rows_quarantined),
        "rows_superseded": dg.MetadataValue.int(result.rows_superseded),
        "dagster/row_count": dg.MetadataValue.int(current_rows),
        "batches": dg.MetadataValue.md(table),
        "top_quarantine_reasons": dg.MetadataValue.md(reason_lines),
    }


def build_extract_assets(contract: Contract | None = None) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    contract = contract or load_contract()
    return [
        *(build_landing_spec(entity) for entity in contract.entities.values()),
        *(build_extract_asset(entity) for entity in contract.entities.values()),
    ]
