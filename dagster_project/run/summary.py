"""What a run did: per entity the files and rows loaded, the dbt models built, the checks passed,
warned and failed, the errors, and this run's publication attempts, read from the run's Dagster
events and the published store (`kpi run` prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
from dagster._utils.error import SerializableErrorInfo

from dagster_project.contract import load_contract
from dagster_project.periods import grain_rank_sql
from dagster_project.run.recovery import RecoveredRun
from dagster_project.settings import Settings


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


@dataclass(frozen=True)
class PeriodPublication:
    period_grain: str
    period_label: str
    outcome: str  # published | unchanged | blocked
    version: int | None
    reason: str


@dataclass
class RunSummary:
    run_id: str
    success: bool
    warehouse_path: Path
    dagster_home: Path
    entities: list[EntitySummary] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    models_built: list[str] = field(default_factory=list)  # dbt models and seeds, as asset keys
    checks_passed: list[str] = field(default_factory=list)
    checks_failed: list[str] = field(default_factory=list)  # failed at ERROR severity
    checks_warned: list[str] = field(default_factory=list)  # failed at WARN severity
    published_path: Path | None = None
    publications: list[PeriodPublication] = field(default_factory=list)  # this run's, per period
    recovered: list[RecoveredRun] = field(default_factory=list)  # dead runs found before this one
    # Outbound problems, printed whatever the outcome: per destination what waits in the outbox.
    undelivered: list[str] = field(default_factory=list)

    @property
    def blocked(self) -> list[PeriodPublication]:
        return [p for p in self.publications if p.outcome == "blocked"]

    def entity(self, name: str) -> EntitySummary:
        return next(e for e in self.entities if e.entity == name)


def summarise_run(result: dg.ExecuteInProcessResult, settings: Settings) -> RunSummary:
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
                # A month-partitioned model materializes once per month of the run: count it once.
                if (key := materialization.asset_key.to_user_string()) not in summary.models_built:
                    summary.models_built.append(key)
                continue
            values = {k: v.value for k, v in materialization.metadata.items()}
            entity.ran = True
            entity.files_loaded = int(values.get("files_loaded", 0))
            entity.files_skipped = int(values.get("files_skipped", 0))
            entity.files_failed = int(values.get("files_failed", 0))
            entity.rows_loaded = int(values.get("rows_loaded", 0))
            entity.rows_quarantined = int(values.get("rows_quarantined", 0))
            entity.rows_superseded = int(values.get("rows_superseded", 0))
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            if evaluation.passed:
                summary.checks_passed.append(name)
            elif evaluation.severity == dg.AssetCheckSeverity.WARN:
                summary.checks_warned.append(name)
            else:
                summary.checks_failed.append(name)
        elif event.is_step_failure:
            failure = event.step_failure_data
            if failure.user_failure_data and failure.user_failure_data.description:
                message = failure.user_failure_data.description
            else:
                message = _innermost_message(failure.error)
            summary.errors.append(f"{event.step_key}: {message}")
    _read_publications(summary, settings)
    return summary


def _read_publications(summary: RunSummary, settings: Settings) -> None:
    """This run's publication attempts, per period, from the published store."""
    published = settings.data_dir / "published.duckdb"
    if not published.exists():
        return
    summary.published_path = published
    with duckdb.connect(str(published), read_only=True) as con:
        rows = con.execute(
            f"""select period_grain, period_label, outcome, version, reason from publication_attempts
               where run_id = ? order by {grain_rank_sql("period_grain")}, period_start""",
            [summary.run_id],
        ).fetchall()
    summary.publications = [PeriodPublication(*row) for row in rows]


def _innermost_message(error: SerializableErrorInfo | None) -> str:
    """The root cause's message: Dagster wraps user errors ("Error occurred while executing …")."""
    if error is None:
        return "step failed"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
