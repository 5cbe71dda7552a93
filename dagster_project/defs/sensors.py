"""Sensors: new landing files start an extraction; data loaded for an already published month starts
a restatement run of that month (a new publication version, never a silent overwrite).
See docs/operations.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.contract import Contract, load_contract
from dagster_project.defs.partitions import partition_range_tags
from dagster_project.defs.publish import REASON_TAG
from dagster_project.defs.schedules import EXTRACT_JOB, MONTHLY_JOB
from dagster_project.periods import contiguous_windows, month_key, parse_month
from dagster_project.settings import Settings

LANDING_SENSOR = "kpi_landing_files"
RESTATEMENT_SENSOR = "kpi_late_data_restatement"
LANDING_SUFFIXES = (".csv", ".parquet")
# Runs in these states may hold the warehouse file: a sensor does not open it then (DuckDB's lock).
_ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def landing_files(landing_dir: Path) -> dict[str, str]:
    """Every landing file (`<entity>/<name>.csv|parquet`) → "size:mtime" (a changed file counts as new)."""
    if not landing_dir.is_dir():
        return {}
    files = {}
    for path in sorted(landing_dir.glob("*/*")):
        if path.is_file() and path.suffix.lower() in LANDING_SUFFIXES and not path.name.startswith("."):
            stat = path.stat()
            files[path.relative_to(landing_dir).as_posix()] = f"{stat.st_size}:{stat.st_mtime_ns}"
    return files


def build_landing_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name=LANDING_SENSOR,
        job_name=EXTRACT_JOB,
        minimum_interval_seconds=60,
        description=f"Starts an extraction when files arrive in the landing folder ({settings.landing_dir}). "
        "Cursor: the files seen, with their size and modification time.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        if not settings.landing_dir.is_dir():
            return dg.SkipReason(
                f"The landing folder {settings.landing_dir} does not exist (KPI_LANDING_DIR)."
            )
        seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        current = landing_files(settings.landing_dir)
        new = sorted(name for name, stamp in current.items() if seen.get(name) != stamp)
        if not new:
            return dg.SkipReason(f"No new files among {len(current)} in {settings.landing_dir}.")
        context.log.info(f"{len(new)} new or changed file(s): {', '.join(new[:10])}")
        request = dg.RunRequest(
            run_key=f"landing:{json.dumps({name: current[name] for name in new}, sort_keys=True)}",
            tags={"kpi/new_files": ", ".join(new[:20]) + (" …" if len(new) > 20 else "")},
        )
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(current, sort_keys=True))

    return landing_sensor


@dataclass(frozen=True)
class LateMonth:
    """A published month that batches loaded after its last publication attempt have touched."""

    month: date
    batches: tuple[int, ...]
    entities: tuple[str, ...]


def time_columns(contract: Contract) -> dict[str, str]:
    """Each fact entity's date (or timestamp) column: the month a row counts in. Reference data (org
    units, products) has none; a change there is picked up by the next full run."""
    columns = {}
    for entity in contract.entities.values():
        for column in entity.columns:
            if column.type in ("date", "timestamp") and column.required:
                columns[entity.name] = column.name
                break
    return columns


def find_late_months(
    warehouse_path: Path, published_path: Path, after_batch_id: int, contract: Contract | None = None
) -> tuple[list[LateMonth], int]:
    """Months touched by batches loaded after `after_batch_id` that were published before those
    batches were loaded; and the highest batch id seen (the next cursor). SQL in DuckDB, read-only."""
    columns = time_columns(contract or load_contract())
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        has_log = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'audit' and table_name = 'load_batches'"
        ).fetchone()[0]
        if not has_log:
            return [], after_batch_id
        last_batch = con.execute(
            "select coalesce(max(batch_id), ?) from audit.load_batches", [after_batch_id]
        ).fetchone()[0]
        batches = con.execute(
            """select batch_id, entity, loaded_at from audit.load_batches
               where batch_id > ? and status = 'loaded' and rows_loaded > 0 order by batch_id""",
            [after_batch_id],
        ).fetchall()
        touched: list[tuple[date, int, str, datetime]] = []
        for batch_id, entity, loaded_at in batches:
            if entity not in columns:
                continue
            months = con.execute(
                f"""select distinct cast(date_trunc('month', {columns[entity]}) as date)
                    from raw.{entity} where _load_batch_id = ?""",
                [batch_id],
            ).fetchall()
            touched += [(month, batch_id, entity, loaded_at) for (month,) in months]
    if not touched or not published_path.exists():
        return [], int(last_batch)
    with duckdb.connect(str(published_path), read_only=True) as con:
        last_attempt = dict(
            con.execute(
                """select period_start, max(attempted_at) from publication_attempts
                   where period_grain = 'month'
                     and period_start in (select period_start from publications where period_grain = 'month')
                   group by period_start"""
            ).fetchall()
        )
    late: dict[date, tuple[set[int], set[str]]] = {}
    for month, batch_id, entity, loaded_at in touched:
        if month in last_attempt and last_attempt[month] < loaded_at:
            batch_ids, entities = late.setdefault(month, (set(), set()))
            batch_ids.add(batch_id)
            entities.add(entity)
    return [
        LateMonth(month, tuple(sorted(batch_ids)), tuple(sorted(entities)))
        for month, (batch_ids, entities) in sorted(late.items())
    ], int(last_batch)


def restatement_requests(late: list[LateMonth], first_month: date) -> list[dg.RunRequest]:
    """One run of the monthly job per run of consecutive late months (months before the first
    partition are left to a full run)."""
    by_month = {m.month: m for m in late if m.month >= first_month}
    requests = []
    for window in contiguous_windows(by_month):
        months = [by_month[m] for m in window.months() if m in by_month]
        batches = sorted({b for m in months for b in m.batches})
        entities = sorted({e for m in months for e in m.entities})
        reason = f"late data: {', '.join(entities)} batch(es) {', '.join(map(str, batches))}"
        key = month_key(window.first) + ("" if window.first == window.last else f"..{month_key(window.last)}")
        requests.append(
            dg.RunRequest(
                run_key=f"restatement:{key}:batch-{batches[-1]}",
                partition_key=month_key(window.first) if window.first == window.last else None,
                tags={
                    **(partition_range_tags(window) if window.first != window.last else {}),
                    REASON_TAG: reason,
                    "kpi/restatement": key,
                },
            )
        )
    return requests


def build_restatement_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name=RESTATEMENT_SENSOR,
        job_name=MONTHLY_JOB,
        minimum_interval_seconds=120,
        description="After extraction: months touched by newly loaded batches (raw.<entity>._load_batch_id → "
        "month) that were already published are recomputed and published again as a new version "
        "(reason restatement). Cursor: the last batch id examined.",
    )
    def restatement_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        if not settings.warehouse_path.exists():
            return dg.SkipReason(f"No warehouse yet at {settings.warehouse_path}.")
        if context.instance.get_run_records(dg.RunsFilter(statuses=_ACTIVE), limit=1):
            return dg.SkipReason("A run is in progress; the warehouse is looked at when it has finished.")
        after = int(context.cursor or 0)
        try:
            late, last_batch = find_late_months(
                settings.warehouse_path, settings.data_dir / "published.duckdb", after
            )
        except duckdb.IOException as error:  # another process holds the file: try again next tick
            return dg.SkipReason(f"The warehouse is busy: {error}")
        first = parse_month(settings.first_month)
        requests = restatement_requests(late, first)
        for request in requests:
            context.log.info(f"Restatement of {request.tags['kpi/restatement']}: {request.tags[REASON_TAG]}")
        return dg.SensorResult(run_requests=requests, cursor=str(last_batch))

    return restatement_sensor
