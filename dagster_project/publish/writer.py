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

This module orchestrates one publication; its parts: `contract.py` (the BI contract: every published
table and its columns), `gate_results.py` (the gate's results it reads), `decisions.py` (what happens
to each period), `steps.py` (the SQL that writes the publication), `audit_trail.py` (provenance,
value inputs, row hashes, the hash chain) and `files.py` (paths, storage format, durable file
operations).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.audit.provenance import RunProvenance
from dagster_project.publish.contract import (
    CONTRACT_TABLES,
    LINEAGE_SOURCES,
    PUBLISHED_TABLES,
    SCORECARD_COLUMNS,
    SCORES_COLUMNS,
    STAGED_DICTIONARY,
    STAGED_SCORECARD,
    STAGED_SCORES,
)
from dagster_project.publish.decisions import Outcome, PeriodOutcome, decide_periods
from dagster_project.publish.files import (
    LOCK_SUFFIX,
    NEXT_SUFFIX,
    STORAGE_VERSION,
    copy_file,
    fsync_dir,
    parquet_dir,
    path_literal,
    published_path,
    remove_files,
    wal_path,
)
from dagster_project.publish.gate_results import GateResult
from dagster_project.publish.steps import snapshot_staged, write_parquet, write_publication


class PublishError(Exception):
    """The publication could not be made; the current published file is left as it was."""


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
        remove_files(next_path, wal_path(next_path), *out_dir.glob(".*.parquet.tmp"))
        parquet_tmp = {table: out_dir / f".{table}.parquet.tmp" for table in PUBLISHED_TABLES}
        try:
            if target.exists():
                copy_file(target, next_path)
            con = duckdb.connect(config=dict(duckdb_config or {}))
            try:
                _attach(con, warehouse_path, next_path, with_lineage=provenance is not None)
                _ensure_schema(con)
                snapshot_staged(con)
                periods = decide_periods(con, gate, reason_context)
                periods = write_publication(con, gate, periods, run_id, stamp, checked_at, provenance)
                write_parquet(con, parquet_tmp)
                con.execute("checkpoint pub")
                con.execute("detach pub")
                con.execute("detach wh")
            finally:
                con.close()
            if wal_path(next_path).exists():
                raise PublishError(f"{wal_path(next_path)} remained after the checkpoint; not publishing")
            os.replace(next_path, target)
            for table, tmp in parquet_tmp.items():
                os.replace(tmp, out_dir / f"{table}.parquet")
            fsync_dir(target.parent)
            fsync_dir(out_dir)
        except BaseException:
            remove_files(next_path, wal_path(next_path), *parquet_tmp.values())
            raise

    return PublicationReport(
        run_id=run_id,
        published_at=stamp,
        published_path=target,
        parquet_dir=out_dir,
        storage_version=STORAGE_VERSION,
        periods=tuple(periods),
    )


def _attach(
    con: duckdb.DuckDBPyConnection, warehouse_path: Path, next_path: Path, with_lineage: bool
) -> None:
    try:
        con.execute(f"attach {path_literal(warehouse_path)} as wh (read_only)")
    except duckdb.Error as error:
        raise PublishError(
            f"cannot open the warehouse {warehouse_path} read-only: {error}. "
            "Another process may be writing it; publish after the dbt build has finished."
        ) from error
    con.execute(f"attach {path_literal(next_path)} as pub (storage_version '{STORAGE_VERSION}')")
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


def _utc_naive(moment: datetime) -> datetime:
    """Timestamps are stored as UTC without a zone; a naive input is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _check_no_outside_writer(target: Path) -> None:
    if wal_path(target).exists():
        raise PublishError(
            f"{wal_path(target)} exists: a program opened the published file for writing, which BI tools "
            "must not do (open it read-only). Close that program; the publisher never writes the "
            "published file in place, so delete the .wal file and publish again."
        )


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
