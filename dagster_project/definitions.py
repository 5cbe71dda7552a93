"""The Dagster code location: `dagster dev`, `dg check defs` and `kpi run` all load `defs` from here."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.alerts import build_alert_checks
from dagster_project.defs.extract import build_extract_assets
from dagster_project.defs.gate import build_gate_checks
from dagster_project.defs.lineage import build_lineage_sensors
from dagster_project.defs.publish import build_publish_asset
from dagster_project.defs.resources import build_resources
from dagster_project.defs.transform import build_dbt_assets
from dagster_project.settings import Settings

PIPELINE_JOB = "kpi_pipeline"


def build_definitions(settings: Settings) -> dg.Definitions:
    assets = [*build_extract_assets(), build_dbt_assets(), build_publish_asset()]
    pipeline_job = dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.all(),
        description="The main job: extract every landing file into the warehouse, build the dbt models "
        "and tests up to the staged scorecards, run the quality gate and publish what passed.",
    )
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_gate_checks(), *build_alert_checks()],
        jobs=[pipeline_job],
        sensors=build_lineage_sensors(settings),
        resources=build_resources(settings),
        # One process runs the steps one after another: DuckDB allows a single writer per file.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
