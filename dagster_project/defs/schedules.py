"""Jobs and schedules: extraction daily, the month just closed published on a configurable day of the
next month (its quarter and year with it, when it completes them). See docs/operations.md."""

from __future__ import annotations

import dagster as dg

from dagster_project.settings import Settings

PIPELINE_JOB = "kpi_pipeline"
EXTRACT_JOB = "kpi_extract"
MONTHLY_JOB = "kpi_monthly"
EXTRACT_SCHEDULE = "kpi_extract_daily"
MONTHLY_SCHEDULE = "kpi_monthly_close"
PUBLISH_HOUR = 6  # on the publication day, after the night's extraction


def extract_selection() -> dg.AssetSelection:
    """The extract assets: every `raw/<entity>` asset, loaded from the landing folder."""
    return dg.AssetSelection.key_prefixes("raw")


def build_jobs(partitions_def: dg.PartitionsDefinition) -> list[dg.UnresolvedAssetJobDefinition]:
    return [
        dg.define_asset_job(
            PIPELINE_JOB,
            selection=dg.AssetSelection.all(),
            partitions_def=partitions_def,
            description="The main job: extract every landing file into the warehouse, build the dbt models "
            "and tests up to the staged scorecards, run the quality gate and publish what passed. "
            "Run it for a range of months, or every month (a full run).",
        ),
        dg.define_asset_job(
            EXTRACT_JOB,
            selection=extract_selection(),
            description="Load the new landing files into raw.* (files already loaded are skipped by checksum).",
        ),
        dg.define_asset_job(
            MONTHLY_JOB,
            selection=dg.AssetSelection.all() - extract_selection(),
            partitions_def=partitions_def,
            description="Compute and publish some months from the warehouse (no extraction): the monthly "
            "close, restatements after late data, backfills.",
        ),
    ]


def build_schedules(
    settings: Settings, jobs: list[dg.UnresolvedAssetJobDefinition]
) -> list[dg.ScheduleDefinition]:
    monthly_job = next(job for job in jobs if job.name == MONTHLY_JOB)
    extract_daily = dg.ScheduleDefinition(
        name=EXTRACT_SCHEDULE,
        job_name=EXTRACT_JOB,
        cron_schedule=settings.extract_cron,
        execution_timezone=settings.schedule_timezone,
        description=f"Load new landing files ({settings.extract_cron}, KPI_EXTRACT_CRON).",
    )
    # The month that has just ended is the partitioned job's last partition; this runs it on day
    # KPI_PUBLISH_DAY of the next month, so late files of the first days are in.
    monthly_close = dg.build_schedule_from_partitioned_job(
        monthly_job,
        name=MONTHLY_SCHEDULE,
        day_of_month=settings.publish_day,
        hour_of_day=PUBLISH_HOUR,
        description=f"Publish the month just closed on day {settings.publish_day} of the next month "
        "(KPI_PUBLISH_DAY); a month that ends a quarter or a year publishes them too.",
    )
    return [extract_daily, monthly_close]
