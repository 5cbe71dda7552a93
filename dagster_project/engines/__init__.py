"""Warehouse engines beside the embedded DuckDB default (KPI_ENGINE, docs/scale_out.md).

The Dagster assets call the hooks below around the dbt build, and the gate checks `run_gate_check`;
on DuckDB the hooks do nothing and the gate runs as before, so the switch stays in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster_project.gate.runner import CheckOutcome, CheckSpec, Gate, run_check
from dagster_project.settings import Settings


def before_dbt_build(settings: Settings) -> None:
    """Hand the extracted sources to the engine dbt runs on (Spark: Parquet folders)."""
    if settings.engine == "spark":
        from dagster_project.engines.spark import land_sources_as_parquet

        land_sources_as_parquet(settings)


def after_dbt_build(settings: Settings, staged: bool = True) -> None:
    """Make the engine's tables readable where the gate's fingerprints and the publish step read them
    (warehouse.duckdb); `staged`: this step built the staged scorecards, which must then be there."""
    if settings.engine == "spark":
        from dagster_project.engines.spark import expose_staged_tables_to_duckdb

        expose_staged_tables_to_duckdb(settings, require_staged=staged)


def run_gate_check(
    spec: CheckSpec,
    settings: Settings,
    warehouse_path: Path,
    gate: Gate,
    connection_config: dict[str, Any] | None = None,
) -> CheckOutcome:
    """One quality-gate check on the engine's tables (settings.engine): GX through SQL on DuckDB,
    through Spark on Spark."""
    if settings.engine == "spark":
        from dagster_project.gate.spark import run_check_spark

        return run_check_spark(spec, settings, gate)
    return run_check(spec, warehouse_path, gate, connection_config)
