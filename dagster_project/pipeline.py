"""Run the Dagster job from the command line (`kpi run`) and summarise what it did.

The CLI is a thin layer over this module; the work itself happens in the Dagster assets, so a
run started here shows up in `dagster dev` like any other (same persistent DAGSTER_HOME).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import yaml
from dagster._utils.error import SerializableErrorInfo

from dagster_project.contract import load_contract
from dagster_project.definitions import PIPELINE_JOB, build_definitions
from dagster_project.settings import Settings

# Instance settings written to a new DAGSTER_HOME: no telemetry, and one op at a time in the
# warehouse pool across runs (DuckDB has one writer per file).
DAGSTER_YAML = {
    "telemetry": {"enabled": False},
    "concurrency": {"pools": {"default_limit": 1}},
}


@dataclass
class EntitySummary:
    entity: str
    files_loaded: int = 0
    files_skipped: int = 0
    files_failed: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    ran: bool = False


@dataclass
class RunSummary:
    run_id: str
    success: bool
    warehouse_path: Path
    dagster_home: Path
    entities: list[EntitySummary] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def entity(self, name: str) -> EntitySummary:
        return next(e for e in self.entities if e.entity == name)


def prepare_dagster_home(settings: Settings) -> dg.DagsterInstance:
    """A persistent Dagster instance under the data folder (or the user's DAGSTER_HOME)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "dagster.yaml"
    if not config_file.exists():
        config_file.write_text(yaml.safe_dump(DAGSTER_YAML, sort_keys=False), encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)  # for tools started from here (`dagster dev`)
    return dg.DagsterInstance.from_config(str(home))


def run_pipeline(settings: Settings, log_level: str = "WARNING") -> RunSummary:
    """Materialize the whole pipeline once, through Dagster, and return what it did.

    `log_level` is for the console only; the run's full event log is kept in DAGSTER_HOME.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    instance = prepare_dagster_home(settings)
    job = build_definitions(settings).resolve_job_def(PIPELINE_JOB)
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
    )
    return _summarise(result, settings)


def _summarise(result: dg.ExecuteInProcessResult, settings: Settings) -> RunSummary:
    summary = RunSummary(
        run_id=result.run_id,
        success=result.success,
        warehouse_path=settings.warehouse_path,
        dagster_home=settings.dagster_home,
        entities=[EntitySummary(entity=name) for name in load_contract().entities],
    )
    by_key = {("raw", e.entity): e for e in summary.entities}
    for event in result.all_events:
        if event.is_step_materialization:
            materialization = event.step_materialization_data.materialization
            entity = by_key.get(tuple(materialization.asset_key.path))
            if entity is None:
                continue
            values = {k: v.value for k, v in materialization.metadata.items()}
            entity.ran = True
            entity.files_loaded = int(values.get("files_loaded", 0))
            entity.files_skipped = int(values.get("files_skipped", 0))
            entity.files_failed = int(values.get("files_failed", 0))
            entity.rows_loaded = int(values.get("rows_loaded", 0))
            entity.rows_quarantined = int(values.get("rows_quarantined", 0))
            entity.rows_superseded = int(values.get("rows_superseded", 0))
        elif event.is_step_failure:
            failure = event.step_failure_data
            if failure.user_failure_data and failure.user_failure_data.description:
                message = failure.user_failure_data.description
            else:
                message = _innermost_message(failure.error)
            summary.errors.append(f"{event.step_key}: {message}")
    return summary


def _innermost_message(error: SerializableErrorInfo | None) -> str:
    """The root cause's message: Dagster wraps user errors ("Error occurred while executing …")."""
    if error is None:
        return "step failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
