"""The Dagster code location: `dagster dev`, `dg check defs` and `kpi run` all load `defs` from here."""

from __future__ import annotations

import warnings

import dagster as dg

from dagster_project.defs.alerts import build_alert_checks
from dagster_project.defs.extract import build_extract_assets
from dagster_project.defs.gate import build_gate_checks
from dagster_project.defs.lineage import build_lineage_sensors
from dagster_project.defs.partitions import monthly_partitions
from dagster_project.defs.publish import build_publish_asset
from dagster_project.defs.resources import build_resources
from dagster_project.defs.schedules import PIPELINE_JOB, build_jobs, build_schedules
from dagster_project.defs.sensors import build_landing_sensor, build_restatement_sensor
from dagster_project.defs.transform import build_dbt_assets
from dagster_project.gate.runner import load_gate
from dagster_project.settings import Settings

__all__ = ["PIPELINE_JOB", "build_definitions", "defs"]

# A single-run backfill policy on an asset is "beta" in Dagster 1.13 but is what makes a range of
# months one run; the warning would be printed by every command and test that loads the definitions.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)


def build_definitions(settings: Settings) -> dg.Definitions:
    # Extraction, staging and reference models are unpartitioned; the facts, KPI values, scorecards and
    # the publication are partitioned by month (defs/partitions.py, docs/operations.md).
    months = monthly_partitions(settings.first_month, settings.schedule_timezone)
    gate = load_gate(overrides=settings.gate_parameters)
    assets = [*build_extract_assets(), *build_dbt_assets(months), build_publish_asset(months, gate)]
    jobs = build_jobs(months)
    return dg.Definitions(
        assets=assets,
        asset_checks=[*build_gate_checks(gate), *build_alert_checks(settings)],
        jobs=jobs,
        schedules=build_schedules(settings, jobs),
        sensors=[
            build_landing_sensor(settings),
            build_restatement_sensor(settings),
            *build_lineage_sensors(settings),
        ],
        resources=build_resources(settings),
        # One process runs the steps one after another: DuckDB allows a single writer per file.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
