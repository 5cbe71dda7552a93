"""Warehouse engines beside the embedded DuckDB default (KPI_ENGINE, docs/scale_out.md).

The Dagster assets call the two hooks below around the dbt build; on DuckDB they do nothing, so the
switch stays in one place and the default path is unchanged.
"""

from __future__ import annotations

from dagster_project.settings import Settings


def before_dbt_build(settings: Settings) -> None:
    """Hand the extracted sources to the engine dbt runs on (Spark: Parquet folders)."""
    if settings.engine == "spark":
        from dagster_project.engines.spark import land_sources_as_parquet

        land_sources_as_parquet(settings)


def after_dbt_build(settings: Settings) -> None:
    """Make the engine's staged tables readable where the publish step reads them (warehouse.duckdb)."""
    if settings.engine == "spark":
        from dagster_project.engines.spark import expose_staged_tables_to_duckdb

        expose_staged_tables_to_duckdb(settings)
