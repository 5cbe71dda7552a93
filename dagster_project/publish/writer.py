"""Publish the staged scorecards to BI: write, audit, publish (docs/bi_tables.md).

`publish_scorecards()` copies the staged `scorecard.*` tables of the warehouse into
`<data_dir>/published.duckdb` (and a Parquet copy of every table), period by period:

- a period the gate blocks is not published: its last good version stays current and the attempt
  is recorded with the critical checks that failed;
- a period whose content (a SHA-256 over its rows, computed in SQL) equals the current version's is
  `unchanged`: no new version, only the attempt is recorded;
- otherwise the period gets version n + 1 (`initial` for n = 0, else `restatement`). A version is
  never updated or deleted: the history tables keep every row of every version.

The published file is never opened for writing. The next state is built in `published.duckdb.next`
(a copy of the current file, so history carries over), checkpointed, closed and moved over the old
file with `os.replace`. A reader holding the old file open keeps its consistent snapshot and never
blocks the publisher; a new connection sees the new publication. The file is written in DuckDB's
storage format `STORAGE_VERSION` so BI tools that embed an older DuckDB (0.10.3 and later) can open it.

Python orchestrates: DuckDB reads the warehouse (attached read-only) and does every copy in SQL.
The caller serialises publications (one writer); a lock file makes a concurrent second publisher
fail fast instead of corrupting the next file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

import duckdb

from dagster_project.audit.hashing import (
    GENESIS_HASH,
    digest_sql,
    period_content_sql,
    record_hash,
    row_json_sql,
)
from dagster_project.audit.provenance import RunProvenance
from dagster_project.audit.seal import SEAL_TABLES, SEALED_ROW_HASHES_COLUMNS, SEALS_COLUMNS, write_seal
from dagster_project.gate import decision
from dagster_project.gate.decision import SEVERITIES
from dagster_project.periods import GRAIN_MONTHS, GRAINS, grain_months_sql

PUBLISHED_FILE_NAME = "published.duckdb"
NEXT_SUFFIX = ".next"
LOCK_SUFFIX = ".lock"
PARQUET_DIR = Path("published") / "parquet"

# DuckDB 2.x writes files that DuckDB 1.x cannot read by default. 'v1.0.0' is the oldest format
# DuckDB 2.0.1 writes (older names such as 'v0.10.0' map to it too: storage 64, "v1.0.0+").
# Readers from DuckDB 0.10.3 on open it (verified: 0.10.3, 1.0.0, 1.1.3; 0.10.0-0.10.2 and 0.9.2 fail).
STORAGE_VERSION = "v1.0.0"

Outcome = Literal["published", "unchanged", "blocked"]
PeriodKey = tuple[str, date]

# The BI contract: table columns and their types, declared once here (see STAGED_CONTRACTS). Names
# and types are stable; docs/bi_tables.md documents every column, the dbt models' contracts and
# casts repeat them: tests/test_publish.py keeps all of them in step with these tuples.
SCORECARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_end", "date"),
    ("period_label", "varchar"),
    ("org_unit_id", "varchar"),
    ("org_unit_name", "varchar"),
    ("org_unit_name_zh", "varchar"),
    ("unit_type", "varchar"),
    ("parent_org_unit_id", "varchar"),
    ("kpi_id", "varchar"),
    ("kpi_label", "varchar"),
    ("kpi_label_zh", "varchar"),
    ("perspective", "varchar"),
    ("unit", "varchar"),
    ("polarity", "varchar"),
    ("decimals", "integer"),
    ("actual", "double"),
    ("numerator", "double"),
    ("denominator", "double"),
    ("sample_size", "bigint"),
    ("value_status", "varchar"),
    ("target", "double"),
    ("target_effective_from", "date"),
    ("target_set_by", "varchar"),
    ("attainment", "double"),
    ("status", "varchar"),
    ("points", "integer"),
    ("prior_period_actual", "double"),
    ("change_vs_prior_period", "double"),
    ("prior_year_actual", "double"),
    ("change_vs_prior_year", "double"),
    ("weight", "double"),
)
SCORECARD_KEY = ("period_grain", "period_start", "org_unit_id", "kpi_id")
# The comparison columns: another period's actual (and the difference to it), not the period's own
# figures. They are left out of the content hash, so they never make a version by themselves, and
# the current `scorecard` rows always show the current versions of the compared periods: refreshed
# in place when a compared period is restated (the history keeps them as published). docs/bi_tables.md.
# (comparison column, its change column, months back: None = one period of the row's grain)
COMPARISONS: tuple[tuple[str, str, int | None], ...] = (
    ("prior_period_actual", "change_vs_prior_period", None),
    ("prior_year_actual", "change_vs_prior_year", GRAIN_MONTHS["year"]),
)
COMPARISON_COLUMNS = tuple(name for pair in COMPARISONS for name in pair[:2])
# What a period's version is: its own figures (the content hash covers these columns).
SCORECARD_CONTENT_COLUMNS = tuple(c for c in SCORECARD_COLUMNS if c[0] not in COMPARISON_COLUMNS)

SCORES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("org_unit_id", "varchar"),
    ("perspective", "varchar"),
    ("score", "double"),
    ("kpis_scored", "integer"),
)
SCORES_KEY = ("period_grain", "period_start", "org_unit_id", "perspective")

VERSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("publication_version", "integer"),
    ("published_at", "timestamp"),
)

PUBLICATIONS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_label", "varchar"),
    ("version", "integer"),
    ("published_at", "timestamp"),
    ("run_id", "varchar"),
    ("reason", "varchar"),
    ("row_count", "bigint"),
    ("content_hash", "varchar"),
    ("checks_passed", "integer"),
    ("checks_warned", "integer"),
    # The audit trail (docs/audit.md): a global sequence, what produced the version, and the hash
    # chain: record_hash covers every column before it, previous_record_hash included.
    ("publication_id", "bigint"),
    ("dbt_invocation_id", "varchar"),
    ("git_commit", "varchar"),
    ("provenance_hash", "varchar"),
    ("inputs_hash", "varchar"),
    ("checks_hash", "varchar"),
    ("previous_record_hash", "varchar"),
    ("record_hash", "varchar"),
    # A restatement: did its input batches change (new or changed files), or not (the change came
    # from definitions, targets, code, or an edit of the warehouse)? NULL for initial versions and
    # when unknown. Added after record_hash (additive), and covered by it when not NULL.
    ("inputs_changed", "boolean"),
)

ATTEMPTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("attempt_id", "bigint"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_label", "varchar"),
    ("run_id", "varchar"),
    ("attempted_at", "timestamp"),
    ("outcome", "varchar"),
    ("version", "integer"),
    ("content_hash", "varchar"),
    ("reason", "varchar"),
    ("failing_checks", "varchar"),
)

CHECK_RESULTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("checked_at", "timestamp"),
    ("suite", "varchar"),
    ("expectation", "varchar"),
    ("table_name", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("severity", "varchar"),
    ("success", "boolean"),
    ("observed_value", "varchar"),
    ("failing_rows_sample", "varchar"),
    ("details", "varchar"),
)

# The audit trail's tables (docs/audit.md). All are append-only.
PUBLICATION_RUNS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("recorded_at", "timestamp"),
    ("dbt_invocation_id", "varchar"),
    ("dbt_command", "varchar"),
    ("dbt_generated_at", "varchar"),
    ("git_commit", "varchar"),
    ("git_dirty", "boolean"),
    ("versions", "varchar"),
    ("manifest_sha256", "varchar"),
    ("run_results_sha256", "varchar"),
    ("files_hash", "varchar"),
    ("kpi_inputs_hash", "varchar"),
    ("record_hash", "varchar"),
)
PUBLICATION_FILES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("kind", "varchar"),
    ("path", "varchar"),
    ("sha256", "varchar"),
)
AUDIT_TEXTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("sha256", "varchar"),
    ("text", "varchar"),
)
KPI_INPUTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "varchar"),
    ("kpi_id", "varchar"),
    ("metric_name", "varchar"),
    ("semantic_model", "varchar"),
    ("model", "varchar"),
    ("source_entities", "varchar"),
    ("offset_months", "integer"),
)
SOURCE_BATCHES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", "bigint"),
    ("entity", "varchar"),
    ("file_name", "varchar"),
    ("file_path", "varchar"),
    ("file_format", "varchar"),
    ("file_size_bytes", "bigint"),
    ("sha256", "varchar"),
    ("rows_read", "bigint"),
    ("rows_loaded", "bigint"),
    ("rows_quarantined", "bigint"),
    ("loaded_at", "timestamp"),
    ("dagster_run_id", "varchar"),
)
VALUE_INPUTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("publication_version", "integer"),
    ("org_unit_id", "varchar"),
    ("semantic_model", "varchar"),
    ("offset_months", "integer"),
    ("load_batch_id", "bigint"),
    ("row_count", "bigint"),
)
ROW_HASHES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("table_name", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("publication_version", "integer"),
    ("row_key", "varchar"),
    ("row_hash", "varchar"),
)
# Early-warning alerts (dbt model scorecard.kpi_alerts): the current alerts of the published periods.
ALERTS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("kpi_id", "varchar"),
    ("kpi_label", "varchar"),
    ("kpi_label_zh", "varchar"),
    ("org_unit_id", "varchar"),
    ("org_unit_name", "varchar"),
    ("org_unit_name_zh", "varchar"),
    ("period_grain", "varchar"),
    ("period_start", "date"),
    ("period_label", "varchar"),
    ("unit", "varchar"),
    ("polarity", "varchar"),
    ("decimals", "integer"),
    ("value", "double"),
    ("expected_low", "double"),
    ("expected_high", "double"),
    ("history_median", "double"),
    ("history_periods", "integer"),
    ("robust_z", "double"),
    ("prior_status", "varchar"),
    ("status", "varchar"),
    ("detected_rule", "varchar"),
    ("severity", "varchar"),
    ("reason", "varchar"),
    ("owner", "varchar"),
)
STAGED_ALERTS = ("scorecard", "kpi_alerts")

# The BI contract's one declaration: the column tuples above. The dbt models that stage the
# published tables carry the same columns as an enforced dbt contract (their YAML) and as the casts
# of their final select; tests/test_publish.py checks both, and docs/bi_tables.md, against these.
STAGED_CONTRACTS: dict[str, tuple[tuple[str, str], ...]] = {
    "scorecard": SCORECARD_COLUMNS,
    "scorecard_scores": SCORES_COLUMNS,
    "kpi_alerts": ALERTS_COLUMNS,
}

# Every published table and its columns; `kpi_dictionary` is copied as is from the warehouse.
CONTRACT_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "scorecard": SCORECARD_COLUMNS + VERSION_COLUMNS,
    "scorecard_scores": SCORES_COLUMNS + VERSION_COLUMNS,
    "scorecard_history": SCORECARD_COLUMNS + VERSION_COLUMNS,
    "scorecard_scores_history": SCORES_COLUMNS + VERSION_COLUMNS,
    "publications": PUBLICATIONS_COLUMNS,
    "publication_attempts": ATTEMPTS_COLUMNS,
    "check_results": CHECK_RESULTS_COLUMNS,
    "publication_runs": PUBLICATION_RUNS_COLUMNS,
    "publication_files": PUBLICATION_FILES_COLUMNS,
    "audit_texts": AUDIT_TEXTS_COLUMNS,
    "kpi_inputs": KPI_INPUTS_COLUMNS,
    "source_batches": SOURCE_BATCHES_COLUMNS,
    "value_inputs": VALUE_INPUTS_COLUMNS,
    "scorecard_row_hashes": ROW_HASHES_COLUMNS,
    "kpi_alerts": ALERTS_COLUMNS,
    # The seal over every published table, per publication (dagster_project/audit/seal.py).
    "publication_seals": SEALS_COLUMNS,
    "sealed_row_hashes": SEALED_ROW_HASHES_COLUMNS,
}
PUBLISHED_TABLES: tuple[str, ...] = (*CONTRACT_TABLES, "kpi_dictionary")

# Where the publisher reads the staged tables in the warehouse.
STAGED_SCORECARD = ("scorecard", "scorecard")
STAGED_SCORES = ("scorecard", "scorecard_scores")
STAGED_DICTIONARY = ("kpi", "kpi_dictionary")
# Where it reads the inputs of every value: batch contributions, the org hierarchy, the batch log.
LINEAGE_SOURCES = (
    ("lineage", "batch_contributions"),
    ("intermediate", "int_org_unit_closure"),
    ("audit", "load_batches"),
)

# SQL: check result `{check}` applies to period `{period}` (CheckResult.applies_to, in SQL), a
# format string generated from the gate's one rule (gate/decision.py).
CHECK_APPLIES_SQL = decision.check_applies_sql("{check}", "{period}")


class PublishError(Exception):
    """The publication could not be made; the current published file is left as it was."""


@dataclass(frozen=True)
class CheckResult:
    """One evaluation of one expectation, as the quality gate reports it.

    `period_grain`/`period_start` name the period the check is about; a check with no period_start
    is global: for every period of its grain, or for every period when period_grain is None too.
    """

    suite: str
    expectation: str
    table: str
    severity: str  # critical | warning
    success: bool
    period_grain: str | None = None
    period_start: date | None = None
    observed_value: str | None = None
    failing_rows_sample: str | None = None  # JSON text
    details: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"check {self.suite}.{self.expectation} on {self.table}: severity {self.severity!r} "
                f"is not one of {', '.join(SEVERITIES)}"
            )
        if self.period_grain is not None and self.period_grain not in GRAINS:
            raise ValueError(
                f"check {self.suite}.{self.expectation} on {self.table}: period_grain "
                f"{self.period_grain!r} is not one of {', '.join(GRAINS)}"
            )
        if self.period_start is not None and self.period_grain is None:
            raise ValueError(
                f"check {self.suite}.{self.expectation} on {self.table}: period_start "
                f"{self.period_start} needs a period_grain"
            )
        if isinstance(self.period_start, datetime):  # a timestamp from a query: the day is the key
            object.__setattr__(self, "period_start", self.period_start.date())

    def applies_to(self, period: PeriodKey) -> bool:
        return decision.applies_to(self.period_grain, self.period_start, period)

    @property
    def is_critical_failure(self) -> bool:
        return decision.is_critical_failure(self.severity, self.success)

    @property
    def is_warning(self) -> bool:
        return decision.is_warning(self.severity, self.success)

    def describe(self) -> str:
        return f"{self.suite}.{self.expectation} on {self.table}"

    def as_json_object(self) -> dict[str, object]:
        return {
            "suite": self.suite,
            "expectation": self.expectation,
            "table_name": self.table,
            "period_grain": self.period_grain,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "severity": self.severity,
            "observed_value": self.observed_value,
            "failing_rows_sample": self.failing_rows_sample,
            "details": self.details,
        }


@dataclass(frozen=True)
class GateResult:
    """The quality gate's decision, passed in by the caller.

    A period is blocked when the caller lists it in `blocked_periods` or when a critical check that
    applies to it failed (fail-safe: a failed critical check always blocks, whatever the list says).
    `reasons` says why for a listed period that no failed check explains (e.g. no gate results).
    """

    checks: tuple[CheckResult, ...] = ()
    blocked_periods: frozenset[PeriodKey] = frozenset()
    checked_at: datetime | None = None
    reasons: Mapping[PeriodKey, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_checks(
        cls,
        checks: Iterable[CheckResult],
        blocked_periods: Iterable[PeriodKey] = (),
        checked_at: datetime | None = None,
        reasons: Mapping[PeriodKey, Iterable[str]] | None = None,
    ) -> GateResult:
        def day(start: date) -> date:
            return start.date() if isinstance(start, datetime) else start

        periods = frozenset((grain, day(start)) for grain, start in blocked_periods)
        why = {(grain, day(start)): tuple(r) for (grain, start), r in (reasons or {}).items()}
        return cls(tuple(checks), periods | frozenset(why), checked_at, why)

    def checks_for(self, period: PeriodKey) -> list[CheckResult]:
        return [check for check in self.checks if check.applies_to(period)]

    def critical_failures(self, period: PeriodKey) -> list[CheckResult]:
        return [check for check in self.checks_for(period) if check.is_critical_failure]

    def is_blocked(self, period: PeriodKey) -> bool:
        return period in self.blocked_periods or bool(self.critical_failures(period))


@dataclass(frozen=True)
class PeriodOutcome:
    """What happened to one staged period in this publication."""

    period_grain: str
    period_start: date
    period_label: str
    outcome: Outcome
    version: int | None  # the new version when published, else the current one (None: never published)
    reason: str  # readable explanation, as in publication_attempts.reason
    publication_reason: str | None = None  # initial | restatement, when published
    row_count: int = 0
    content_hash: str | None = None
    failing_checks: tuple[CheckResult, ...] = ()
    # a restatement: whether its input batches differ from the previous version's (None: unknown)
    inputs_changed: bool | None = None

    @property
    def key(self) -> PeriodKey:
        return (self.period_grain, self.period_start)


@dataclass(frozen=True)
class PublicationReport:
    run_id: str
    published_at: datetime  # UTC, naive (as stored)
    published_path: Path
    parquet_dir: Path
    storage_version: str
    periods: tuple[PeriodOutcome, ...] = field(default_factory=tuple)

    def _with(self, outcome: Outcome) -> list[PeriodOutcome]:
        return [p for p in self.periods if p.outcome == outcome]

    @property
    def published(self) -> list[PeriodOutcome]:
        return self._with("published")

    @property
    def unchanged(self) -> list[PeriodOutcome]:
        return self._with("unchanged")

    @property
    def blocked(self) -> list[PeriodOutcome]:
        return self._with("blocked")

    def outcome(self, period_grain: str, period_start: date) -> PeriodOutcome:
        for period in self.periods:
            if period.key == (period_grain, period_start):
                return period
        raise KeyError(f"period {period_grain} {period_start} was not in the staged scorecard")

    def summary(self) -> str:
        return (
            f"{len(self.published)} period(s) published, {len(self.unchanged)} unchanged, "
            f"{len(self.blocked)} blocked → {self.published_path}"
        )


def published_path(data_dir: Path) -> Path:
    return Path(data_dir) / PUBLISHED_FILE_NAME


def parquet_dir(data_dir: Path) -> Path:
    return Path(data_dir) / PARQUET_DIR


def publish_scorecards(
    warehouse_path: Path,
    data_dir: Path,
    gate: GateResult,
    run_id: str,
    published_at: datetime | None = None,
    reason_context: str | None = None,
    duckdb_config: Mapping[str, object] | None = None,
    provenance: RunProvenance | None = None,
) -> PublicationReport:
    """Publish every complete staged period the gate lets through; see the module docstring.

    `provenance` (the pipeline always passes it) records what produced the publication and the
    input batches of every published value (docs/audit.md); the warehouse must then have the
    lineage tables. Without it only the scorecards, their versions and the hash chain are written.

    `reason_context` is free text (e.g. "monthly close", "late returns file") appended to the reason
    of every attempt of this run. `duckdb_config` is passed to the DuckDB connection (memory limit,
    spill folder). Raises PublishError, leaving the published file untouched, when it cannot publish.
    """
    warehouse_path = Path(warehouse_path)
    data_dir = Path(data_dir)
    if not warehouse_path.is_file():
        raise PublishError(f"warehouse {warehouse_path} not found: run the pipeline before publishing")
    stamp = _utc_naive(published_at or datetime.now(UTC))
    checked_at = _utc_naive(gate.checked_at) if gate.checked_at else stamp
    target = published_path(data_dir)
    next_path = target.with_name(target.name + NEXT_SUFFIX)
    out_dir = parquet_dir(data_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    with _publisher_lock(target.with_name(target.name + LOCK_SUFFIX)):
        _check_no_outside_writer(target)
        _remove(next_path, _wal(next_path), *out_dir.glob(".*.parquet.tmp"))
        parquet_tmp = {table: out_dir / f".{table}.parquet.tmp" for table in PUBLISHED_TABLES}
        try:
            if target.exists():
                _copy_file(target, next_path)
            con = duckdb.connect(config=dict(duckdb_config or {}))
            try:
                _attach(con, warehouse_path, next_path, with_lineage=provenance is not None)
                _ensure_schema(con)
                _stage(con)
                periods = _decide(con, gate, reason_context)
                periods = _write(con, gate, periods, run_id, stamp, checked_at, provenance)
                _write_parquet(con, parquet_tmp)
                con.execute("checkpoint pub")
                con.execute("detach pub")
                con.execute("detach wh")
            finally:
                con.close()
            if _wal(next_path).exists():
                raise PublishError(f"{_wal(next_path)} remained after the checkpoint; not publishing")
            os.replace(next_path, target)
            for table, tmp in parquet_tmp.items():
                os.replace(tmp, out_dir / f"{table}.parquet")
            _fsync_dir(target.parent)
            _fsync_dir(out_dir)
        except BaseException:
            _remove(next_path, _wal(next_path), *parquet_tmp.values())
            raise

    return PublicationReport(
        run_id=run_id,
        published_at=stamp,
        published_path=target,
        parquet_dir=out_dir,
        storage_version=STORAGE_VERSION,
        periods=tuple(periods),
    )


# --- steps ---------------------------------------------------------------------------------------


def _attach(
    con: duckdb.DuckDBPyConnection, warehouse_path: Path, next_path: Path, with_lineage: bool
) -> None:
    try:
        con.execute(f"attach {_literal(warehouse_path)} as wh (read_only)")
    except duckdb.Error as error:
        raise PublishError(
            f"cannot open the warehouse {warehouse_path} read-only: {error}. "
            "Another process may be writing it; publish after the dbt build has finished."
        ) from error
    con.execute(f"attach {_literal(next_path)} as pub (storage_version '{STORAGE_VERSION}')")
    tags = con.execute("select tags from duckdb_databases() where database_name = 'pub'").fetchone()
    version = (tags[0] or {}).get("storage_version") if tags else None
    if version is not None and not version.startswith(STORAGE_VERSION):
        raise PublishError(
            f"{next_path} would be written in storage version {version}, not {STORAGE_VERSION}: "
            "the current published file uses a newer format. Move it away to rebuild the publication."
        )
    for schema, table in (STAGED_SCORECARD, STAGED_SCORES, STAGED_DICTIONARY):
        _require_table(con, schema, table, warehouse_path)
    if with_lineage:
        for schema, table in LINEAGE_SOURCES:
            _require_table(con, schema, table, warehouse_path)
    _require_columns(con, STAGED_SCORECARD, SCORECARD_COLUMNS, warehouse_path)
    _require_columns(con, STAGED_SCORES, SCORES_COLUMNS, warehouse_path)


def _require_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, warehouse_path: Path) -> None:
    # A table, or a view (engine spark exposes its Parquet tables to DuckDB as views).
    found = con.execute(
        "select count(*) from (select schema_name, table_name, database_name from duckdb_tables() "
        "union all select schema_name, view_name, database_name from duckdb_views()) "
        "where database_name = 'wh' and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    if not found or not found[0]:
        raise PublishError(
            f"table {schema}.{table} not found in the warehouse {warehouse_path}: "
            "build the scorecard dbt models before publishing"
        )


def _require_columns(
    con: duckdb.DuckDBPyConnection,
    schema_table: tuple[str, str],
    columns: Sequence[tuple[str, str]],
    warehouse_path: Path,
) -> None:
    schema, table = schema_table
    present = {
        row[0]
        for row in con.execute(
            "select column_name from duckdb_columns() "
            "where database_name = 'wh' and schema_name = ? and table_name = ?",
            [schema, table],
        ).fetchall()
    }
    missing = [name for name, _ in columns if name not in present]
    if missing:
        raise PublishError(
            f"{schema}.{table} in {warehouse_path} lacks column(s) {', '.join(missing)} "
            "that the published tables need (docs/bi_tables.md)"
        )


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the contract tables in a new file; check their columns in an existing one."""
    for table, columns in CONTRACT_TABLES.items():
        existing = con.execute(
            "select column_name, lower(data_type) from duckdb_columns() "
            "where database_name = 'pub' and schema_name = 'main' and table_name = ? order by column_index",
            [table],
        ).fetchall()
        if not existing:
            column_sql = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
            con.execute(f"create table pub.main.{table} ({column_sql})")
            continue
        if len(existing) < len(columns) and [tuple(c) for c in existing] == list(columns[: len(existing)]):
            # An additive change of the contract (new trailing columns): added, NULL in old rows.
            for name, sql_type in columns[len(existing) :]:
                con.execute(f"alter table pub.main.{table} add column {name} {sql_type}")
            continue
        if [(name, sql_type) for name, sql_type in existing] != list(columns):
            raise PublishError(
                f"published table {table} has columns {existing}, but this publisher writes {list(columns)}: "
                "migrate the published file (docs/bi_tables.md, 'Changing the contract') before publishing"
            )


def _stage(con: duckdb.DuckDBPyConnection) -> None:
    """Snapshot the staged tables in the contract's types, and one content hash per period."""
    con.execute(
        f"create temp table staged_scorecard as select {_casts(SCORECARD_COLUMNS)} "
        f"from wh.{'.'.join(STAGED_SCORECARD)}"
    )
    con.execute(
        f"create temp table staged_scores as select {_casts(SCORES_COLUMNS)} from wh.{'.'.join(STAGED_SCORES)}"
    )
    # The content hash of each period (dagster_project/audit/hashing.py), recomputed by `kpi audit verify`.
    con.execute(
        "create temp table staged_periods as "
        + period_content_sql("staged_scorecard", "staged_scores", SCORECARD_CONTENT_COLUMNS, SCORES_COLUMNS)
    )


def _decide(
    con: duckdb.DuckDBPyConnection, gate: GateResult, reason_context: str | None
) -> list[PeriodOutcome]:
    """One outcome per staged period (a handful of rows of metadata: decided here, copied in SQL)."""
    staged = con.execute(
        "select period_grain, period_start, period_label, row_count, content_hash "
        "from staged_periods order by period_grain, period_start"
    ).fetchall()
    current = {
        (grain, start): (version, content_hash)
        for grain, start, version, content_hash in con.execute(
            "select period_grain, period_start, version, content_hash from pub.publications "
            "qualify row_number() over (partition by period_grain, period_start order by version desc) = 1"
        ).fetchall()
    }
    # The current versions' own figures, recomputed from the history: a version recorded before the
    # content hash left the comparison columns out has a stored hash over every column, and must not
    # be restated only because the hash now covers fewer columns.
    own = {
        (grain, start): content_hash
        for grain, start, content_hash in con.execute(
            f"""
            with current_versions as (
                select period_grain, period_start, max(version) as version from pub.publications group by all
            ), {_current_rows_sql("scorecard_history", "current_scorecard")},
               {_current_rows_sql("scorecard_scores_history", "current_scores")},
            content as ({
                period_content_sql(
                    "current_scorecard", "current_scores", SCORECARD_CONTENT_COLUMNS, SCORES_COLUMNS
                )
            })
            select period_grain, period_start, content_hash from content
            """
        ).fetchall()
    }
    suffix = f"; context: {reason_context}" if reason_context else ""
    outcomes: list[PeriodOutcome] = []
    for grain, start, label, row_count, content_hash in staged:
        key: PeriodKey = (grain, start)
        current_version, current_hash = current.get(key, (None, None))
        common = {
            "period_grain": grain,
            "period_start": start,
            "period_label": label,
            "row_count": row_count,
            "content_hash": content_hash,
        }
        if gate.is_blocked(key):
            failures = tuple(gate.critical_failures(key))
            causes = [
                *([f"{len(failures)} critical check(s) failed: {'; '.join(c.describe() for c in failures)}"]
                  if failures else []),
                *gate.reasons.get(key, ()),
            ]  # fmt: skip
            because = "; ".join(causes) or "the gate blocked the period"
            kept = f"version {current_version} stays published" if current_version else "never published"
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="blocked",
                    version=current_version,
                    reason=f"blocked: {because}; {kept}{suffix}",
                    failing_checks=failures,
                )
            )
        elif content_hash in (current_hash, own.get(key)):
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="unchanged",
                    version=current_version,
                    reason=f"unchanged: content identical to version {current_version}{suffix}",
                )
            )
        elif current_version is None:
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="published",
                    version=1,
                    publication_reason="initial",
                    reason=f"initial: first publication of the period, {row_count} row(s){suffix}",
                )
            )
        else:
            outcomes.append(
                PeriodOutcome(
                    **common,
                    outcome="published",
                    version=current_version + 1,
                    publication_reason="restatement",
                    reason=(
                        f"restatement: content changed since version {current_version} "
                        f"(hash {str(current_hash)[:12]} → {content_hash[:12]}){suffix}"
                    ),
                )
            )
    return outcomes


def _current_rows_sql(history: str, name: str) -> str:
    """A CTE `name`: the rows of `history` of the current versions (CTE current_versions)."""
    return (
        f"{name} as (select h.* from pub.main.{history} as h join current_versions as v "
        "on v.period_grain = h.period_grain and v.period_start = h.period_start "
        "and v.version = h.publication_version)"
    )


def _write(
    con: duckdb.DuckDBPyConnection,
    gate: GateResult,
    periods: Sequence[PeriodOutcome],
    run_id: str,
    stamp: datetime,
    checked_at: datetime,
    provenance: RunProvenance | None,
) -> list[PeriodOutcome]:
    """Write the publication in one transaction; returns the outcomes, restatements annotated."""
    con.execute(
        """
        create temp table decisions (
            period_grain varchar, period_start date, period_label varchar, outcome varchar,
            version integer, publication_reason varchar, reason varchar, failing_checks varchar,
            row_count bigint, content_hash varchar, checks_passed integer, checks_warned integer
        )
        """
    )
    rows = []
    for p in periods:
        relevant = gate.checks_for(p.key)
        failing = (
            json.dumps([c.as_json_object() for c in p.failing_checks]) if p.outcome == "blocked" else None
        )
        rows.append(
            (
                p.period_grain,
                p.period_start,
                p.period_label,
                p.outcome,
                p.version,
                p.publication_reason,
                p.reason,
                failing,
                p.row_count,
                p.content_hash,
                sum(1 for c in relevant if c.success),
                sum(1 for c in relevant if c.is_warning),
            )
        )
    con.execute("begin transaction")
    if rows:
        con.executemany("insert into decisions values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    if gate.checks:
        con.executemany(
            "insert into pub.main.check_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    checked_at,
                    c.suite,
                    c.expectation,
                    c.table,
                    c.period_grain,
                    c.period_start,
                    c.severity,
                    c.success,
                    c.observed_value,
                    c.failing_rows_sample,
                    c.details,
                )
                for c in gate.checks
            ],
        )

    for staged, history, current, columns, key in (
        ("staged_scorecard", "scorecard_history", "scorecard", SCORECARD_COLUMNS, SCORECARD_KEY),
        ("staged_scores", "scorecard_scores_history", "scorecard_scores", SCORES_COLUMNS, SCORES_KEY),
    ):
        names = ", ".join(name for name, _ in columns)
        selected = ", ".join(f"s.{name}" for name, _ in columns)
        con.execute(
            f"""
            insert into pub.main.{history} ({names}, publication_version, published_at)
            select {selected}, d.version, ?
            from {staged} as s
            join decisions as d on d.period_grain = s.period_grain and d.period_start = s.period_start
            where d.outcome = 'published'
            order by {", ".join(f"s.{k}" for k in key)}
            """,
            [stamp],
        )
        # The current table: replace the rows of the periods that got a new version.
        con.execute(
            f"""
            delete from pub.main.{current} as c
            where exists (
                select 1 from decisions as d
                where d.outcome = 'published' and d.period_grain = c.period_grain and d.period_start = c.period_start
            )
            """
        )
        con.execute(
            f"""
            insert into pub.main.{current}
            select h.* from pub.main.{history} as h
            join decisions as d
                on d.period_grain = h.period_grain and d.period_start = h.period_start
                and d.version = h.publication_version
            where d.outcome = 'published'
            order by {", ".join(f"h.{k}" for k in key)}
            """
        )
    _refresh_comparisons(con)
    provenance_hash = _write_provenance(con, provenance) if provenance else None
    inputs_changed: dict[PeriodKey, bool | None] = {}
    if provenance:
        _write_value_inputs(con, provenance.run_id)
        inputs_changed = _inputs_changed(con)
    periods = [
        dataclasses.replace(
            p, inputs_changed=inputs_changed[p.key], reason=_with_inputs_note(p, inputs_changed[p.key])
        )
        if p.key in inputs_changed
        else p
        for p in periods
    ]
    if inputs_changed:
        con.executemany(
            "update decisions set reason = ? where period_grain = ? and period_start = ?",
            [(p.reason, p.period_grain, p.period_start) for p in periods if p.key in inputs_changed],
        )
    _write_row_hashes(con)
    _write_publications(con, run_id, stamp, provenance, provenance_hash, inputs_changed)
    con.execute(
        """
        insert into pub.main.publication_attempts
        select
            (select coalesce(max(attempt_id), 0) from pub.main.publication_attempts)
                + row_number() over (order by period_grain, period_start),
            period_grain, period_start, period_label, ?, ?, outcome, version, content_hash, reason,
            failing_checks
        from decisions
        order by period_grain, period_start
        """,
        [run_id, stamp],
    )
    # The dictionary describes what is published: refreshed unless every period was blocked.
    refresh = any(p.outcome != "blocked" for p in periods)
    has_dictionary = con.execute(
        "select count(*) from duckdb_tables() where database_name = 'pub' and table_name = 'kpi_dictionary'"
    ).fetchone()
    if refresh or not (has_dictionary and has_dictionary[0]):
        con.execute(
            f"create or replace table pub.main.kpi_dictionary as "
            f"select * from wh.{'.'.join(STAGED_DICTIONARY)} order by kpi_id"
        )
    _write_alerts(con)
    write_seal(con, "pub", [t for t in PUBLISHED_TABLES if t not in SEAL_TABLES], run_id, stamp)
    con.execute("commit")
    return periods


INPUTS_UNCHANGED_NOTE = (
    "inputs unchanged: the same source batches and row counts as version {previous} (no new or "
    "changed file); the change comes from definitions, targets, code or an edit of the warehouse"
)


def _with_inputs_note(period: PeriodOutcome, changed: bool | None) -> str:
    if changed is not False or period.version is None:
        return period.reason
    head, context, tail = period.reason.partition("; context: ")
    return f"{head}; {INPUTS_UNCHANGED_NOTE.format(previous=period.version - 1)}{context}{tail}"


def _inputs_changed(con: duckdb.DuckDBPyConnection) -> dict[PeriodKey, bool | None]:
    """Per restatement of this publication: do its value_inputs differ from the previous version's?

    None when the previous version has no recorded inputs (published without provenance).
    """
    columns = "org_unit_id, semantic_model, offset_months, load_batch_id, row_count"
    rows = con.execute(
        f"""
        select d.period_grain, d.period_start,
               exists (select 1 from pub.main.value_inputs as o where o.period_grain = d.period_grain
                       and o.period_start = d.period_start and o.publication_version = d.version - 1),
               exists (
                   (select {columns} from pub.main.value_inputs where period_grain = d.period_grain
                    and period_start = d.period_start and publication_version = d.version
                    except all
                    select {columns} from pub.main.value_inputs where period_grain = d.period_grain
                    and period_start = d.period_start and publication_version = d.version - 1)
                   union all
                   (select {columns} from pub.main.value_inputs where period_grain = d.period_grain
                    and period_start = d.period_start and publication_version = d.version - 1
                    except all
                    select {columns} from pub.main.value_inputs where period_grain = d.period_grain
                    and period_start = d.period_start and publication_version = d.version)
               )
        from decisions as d
        where d.outcome = 'published' and d.publication_reason = 'restatement'
        """
    ).fetchall()
    return {(grain, start): (changed if recorded else None) for grain, start, recorded, changed in rows}


def comparison_sql(current: str, fallback: str | None = None) -> str:
    """SQL: per row of table `current`, the comparison columns it must show (COMPARISONS).

    A row's version was published with the comparison values of its time (the warehouse then held
    the compared periods' figures of that publication). When a compared period has been published
    since (restated, or first published after being blocked), the row shows that period's current
    actual from `current`; otherwise the value its version was published with: the row's own, or
    that of its version in table `fallback` (the history) when given. One row per (period_grain,
    period_start, org_unit_id, kpi_id); the publisher refreshes the current rows with it and
    `kpi audit verify` checks them against it.
    """
    selects, joins = [], []
    if fallback:
        joins.append(
            f"join {fallback} as f on f.period_grain = c.period_grain and f.period_start = c.period_start "
            "and f.publication_version = c.publication_version and f.org_unit_id = c.org_unit_id "
            "and f.kpi_id = c.kpi_id"
        )
    own = "f" if fallback else "c"
    for i, (column, change, months) in enumerate(COMPARISONS):
        back = grain_months_sql("c.period_grain") if months is None else str(months)
        alias = f"compared_{i}"
        joins.append(
            f"left join {current} as {alias} on {alias}.kpi_id = c.kpi_id and {alias}.org_unit_id = c.org_unit_id "
            f"and {alias}.period_grain = c.period_grain "
            f"and {alias}.period_start = cast(c.period_start - to_months({back}) as date)"
        )
        newer = f"coalesce({alias}.published_at > c.published_at, false)"
        selects.append(f"case when {newer} then {alias}.actual else {own}.{column} end as {column}")
        selects.append(
            f"case when {newer} then c.actual - {alias}.actual else {own}.{change} end as {change}"
        )
    return (
        f"select c.period_grain, c.period_start, c.org_unit_id, c.kpi_id, {', '.join(selects)} "
        f"from {current} as c {' '.join(joins)}"
    )


def _refresh_comparisons(con: duckdb.DuckDBPyConnection) -> None:
    """The comparison columns of the current rows show the current versions of the compared periods.

    In place, in `scorecard` only: a restated March refreshes April's prior-period and next year's
    March's prior-year columns without giving them a version (the history keeps what was published).
    """
    con.execute(f"create temp table comparisons as {comparison_sql('pub.main.scorecard')}")
    assignments = ", ".join(f"{name} = n.{name}" for name in COMPARISON_COLUMNS)
    differs = " or ".join(f"c.{name} is distinct from n.{name}" for name in COMPARISON_COLUMNS)
    con.execute(
        f"""
        update pub.main.scorecard as c set {assignments}
        from comparisons as n
        where n.period_grain = c.period_grain and n.period_start = c.period_start
          and n.org_unit_id = c.org_unit_id and n.kpi_id = c.kpi_id and ({differs})
        """
    )
    con.execute("drop table comparisons")


def _write_provenance(con: duckdb.DuckDBPyConnection, provenance: RunProvenance) -> str:
    """The run's provenance record, its files (texts stored once by hash) and the KPIs' inputs."""
    run_id = provenance.run_id
    texts = {text.sha256: text.text for text in provenance.files}
    known = {row[0] for row in con.execute("select sha256 from pub.main.audit_texts").fetchall()}
    new_texts = [(digest, text) for digest, text in sorted(texts.items()) if digest not in known]
    if new_texts:
        con.executemany("insert into pub.main.audit_texts values (?, ?)", new_texts)
    con.executemany(
        "insert into pub.main.publication_files values (?, ?, ?, ?)",
        [(run_id, text.kind, text.path, text.sha256) for text in provenance.files],
    )
    if provenance.kpi_inputs:
        con.executemany(
            "insert into pub.main.kpi_inputs values (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    i.kpi_id,
                    i.metric_name,
                    i.semantic_model,
                    i.model,
                    ",".join(i.source_entities),
                    i.offset_months,
                )
                for i in provenance.kpi_inputs
            ],
        )
    files_hash, inputs_hash = (
        con.execute(
            f"select {digest_sql(row_json_sql(columns))} from pub.main.{table} where run_id = ?", [run_id]
        ).fetchone()[0]
        for table, columns in (
            ("publication_files", PUBLICATION_FILES_COLUMNS),
            ("kpi_inputs", KPI_INPUTS_COLUMNS),
        )
    )
    dbt = provenance.dbt
    values = [
        run_id,
        provenance.recorded_at,
        dbt.invocation_id if dbt else None,
        dbt.command if dbt else None,
        dbt.generated_at if dbt else None,
        provenance.git_commit,
        provenance.git_dirty,
        json.dumps(provenance.versions, sort_keys=True),
        dbt.manifest_sha256 if dbt else None,
        dbt.run_results_sha256 if dbt else None,
        files_hash,
        inputs_hash,
    ]
    digest = record_hash(values)
    con.execute(
        f"insert into pub.main.publication_runs values ({', '.join('?' * (len(values) + 1))})",
        [*values, digest],
    )
    return digest


def _write_value_inputs(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """For every published period: the batches whose fact rows fed each org unit's values (rolled up
    the hierarchy), for the period itself and for every offset a KPI reads (e.g. a year earlier)."""
    con.execute(
        """
        insert into pub.main.source_batches
        select batch_id, entity, file_name, file_path, file_format, file_size_bytes, sha256,
               rows_read, rows_loaded, rows_quarantined, loaded_at, dagster_run_id
        from wh.audit.load_batches
        where status = 'loaded' and batch_id not in (select batch_id from pub.main.source_batches)
        order by batch_id
        """
    )
    con.execute(
        f"""
        insert into pub.main.value_inputs
        with offsets as (
            select 0 as offset_months
            union
            select distinct offset_months from pub.main.kpi_inputs where run_id = $run_id
        ), windows as (
            select d.period_grain, d.period_start, d.version, o.offset_months,
                   d.period_start - to_months(o.offset_months) as window_start,
                   d.period_start - to_months(o.offset_months)
                       + to_months({grain_months_sql("d.period_grain")})
                       as window_end
            from decisions as d cross join offsets as o
            where d.outcome = 'published'
        )
        select w.period_grain, w.period_start, w.version, closure.ancestor_org_unit_id, c.semantic_model,
               w.offset_months, c.load_batch_id, sum(c.row_count)::bigint
        from windows as w
        join wh.lineage.batch_contributions as c
            on c.month_start >= w.window_start and c.month_start < w.window_end
        join wh.intermediate.int_org_unit_closure as closure on closure.org_unit_id = c.org_unit_id
        group by all
        order by all
        """,
        {"run_id": run_id},
    )


def _write_row_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """A hash per published row, so `kpi audit verify` can name the row that was edited."""
    for table, staged, columns, key in (
        ("scorecard", "staged_scorecard", SCORECARD_COLUMNS, "s.org_unit_id || '/' || s.kpi_id"),
        ("scorecard_scores", "staged_scores", SCORES_COLUMNS, "s.org_unit_id || '/' || s.perspective"),
    ):
        con.execute(
            f"""
            insert into pub.main.scorecard_row_hashes
            select '{table}', s.period_grain, s.period_start, d.version, {key}, sha256({row_json_sql(columns, "s")})
            from {staged} as s
            join decisions as d on d.period_grain = s.period_grain and d.period_start = s.period_start
            where d.outcome = 'published'
            order by all
            """
        )


def _write_publications(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    stamp: datetime,
    provenance: RunProvenance | None,
    provenance_hash: str | None,
    inputs_changed: Mapping[PeriodKey, bool | None],
) -> None:
    """One record per new version, each carrying the hash of the one before (the hash chain)."""
    rows = con.execute(
        f"""
        select d.period_grain, d.period_start, d.period_label, d.version, d.publication_reason,
               d.row_count, d.content_hash, d.checks_passed, d.checks_warned,
               (select {digest_sql(row_json_sql(VALUE_INPUTS_COLUMNS, "v"))} from pub.main.value_inputs as v
                where v.period_grain = d.period_grain and v.period_start = d.period_start
                  and v.publication_version = d.version) as inputs_hash,
               (select {digest_sql(row_json_sql(CHECK_RESULTS_COLUMNS, "c"))} from pub.main.check_results as c
                where {CHECK_APPLIES_SQL.format(check="c", period="d")} and c.run_id = ?) as checks_hash
        from decisions as d
        where d.outcome = 'published'
        order by d.period_grain, d.period_start
        """,
        [run_id],
    ).fetchall()
    last = con.execute(
        "select publication_id, record_hash from pub.main.publications order by publication_id desc nulls last limit 1"
    ).fetchone()
    publication_id = (last[0] or 0) if last else 0
    previous = (last[1] or GENESIS_HASH) if last else GENESIS_HASH
    records = []
    for grain, start, label, version, reason, row_count, content, passed, warned, inputs, checks in rows:
        publication_id += 1
        values = [
            grain, start, label, version, stamp, run_id, reason, row_count, content, passed, warned,
            publication_id, provenance.dbt.invocation_id if provenance and provenance.dbt else None,
            provenance.git_commit if provenance else None, provenance_hash, inputs, checks, previous,
        ]  # fmt: skip
        changed = inputs_changed.get((grain, start))
        previous = record_hash(publication_hash_values(values, changed))
        records.append((*values, previous, changed))
    if records:
        con.executemany(
            f"insert into pub.main.publications values ({', '.join('?' * len(PUBLICATIONS_COLUMNS))})",
            records,
        )


def publication_hash_values(before_hash: Sequence[object], inputs_changed: bool | None) -> list[object]:
    """What a publication's record_hash covers: every column before it, and inputs_changed when set
    (records from before that column existed hash without it)."""
    return [*before_hash, inputs_changed] if inputs_changed is not None else list(before_hash)


def _write_alerts(con: duckdb.DuckDBPyConnection) -> None:
    """The alerts of every period published or unchanged in this run are replaced by the staged ones
    (their values are the published values); a blocked period keeps the alerts of its published
    version. A warehouse built without the alerts model leaves the table as it is."""
    schema, table = STAGED_ALERTS
    staged = con.execute(
        "select count(*) from duckdb_tables() where database_name = 'wh' and schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    if not (staged and staged[0]):
        return
    in_this_run = (
        "exists (select 1 from decisions as d where d.outcome in ('published', 'unchanged') "
        "and d.period_grain = {t}.period_grain and d.period_start = {t}.period_start)"
    )
    con.execute(f"delete from pub.main.kpi_alerts as a where {in_this_run.format(t='a')}")
    con.execute(
        f"insert into pub.main.kpi_alerts select {_casts(ALERTS_COLUMNS)} from wh.{schema}.{table} as s "
        f"where {in_this_run.format(t='s')} order by period_grain, period_start, kpi_id, org_unit_id, detected_rule"
    )


def _write_parquet(con: duckdb.DuckDBPyConnection, temporary_files: Mapping[str, Path]) -> None:
    """Each published table to a temporary Parquet file beside its final name (moved after the file)."""
    for table, tmp in temporary_files.items():
        con.execute(f"copy pub.main.{table} to {_literal(tmp)} (format parquet)")


# --- helpers -------------------------------------------------------------------------------------


def _casts(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"cast({name} as {sql_type}) as {name}" for name, sql_type in columns)


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _utc_naive(moment: datetime) -> datetime:
    """Timestamps are stored as UTC without a zone; a naive input is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _copy_file(source: Path, destination: Path) -> None:
    """Copy the current publication, flushed to disk before DuckDB opens it."""
    with source.open("rb") as reader, destination.open("wb") as writer:
        while chunk := reader.read(1 << 20):
            writer.write(chunk)
        writer.flush()
        os.fsync(writer.fileno())


def _check_no_outside_writer(target: Path) -> None:
    if _wal(target).exists():
        raise PublishError(
            f"{_wal(target)} exists: a program opened the published file for writing, which BI tools "
            "must not do (open it read-only). Close that program; the publisher never writes the "
            "published file in place, so delete the .wal file and publish again."
        )


def _fsync_dir(directory: Path) -> None:
    """Make the renames durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _publisher_lock(lock_path: Path) -> Iterator[None]:
    """One publisher at a time: a second one fails at once instead of overwriting the next file.

    Runs are serialised by the Dagster pool already; this guards against a second process anyway.
    Where `fcntl` is missing (Windows) the pool is the only guard.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise PublishError(
                f"another publication is running ({lock_path} is locked): publications are serialised; "
                "retry when it has finished"
            ) from error
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
