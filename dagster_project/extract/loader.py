"""Load landing files into the warehouse under the source data contract.

Each file is one batch: DuckDB reads it (never row by row in Python), every value is checked
against the contract in SQL, good rows go to `raw.<entity>`, bad rows to `quarantine.<entity>`
with the file, row and a readable reason, and the batch is logged in `audit.load_batches`.
A file's rows, its quarantine and its log entry are written in one transaction.

Rules (docs/data_contract.md):
- a file whose checksum was already loaded for the entity is skipped (idempotent reruns);
- a row whose key was loaded before is a correction: the old row gets `_superseded_by_batch_id`;
- two rows with the same key in one file are ambiguous: both are quarantined;
- a file that cannot be read as its entity fails (logged with status `failed`), other files still load;
- a date or timestamp outside the plausibility window (contract/window.py) quarantines its row.

This module runs the load of each file; its parts: `ddl.py` (the tables it writes), `staging.py`
(reading a file into `_incoming`) and `rules.py` (the contract's rules, generated as SQL).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.contract import Column, Contract, Entity
from dagster_project.contract.window import DateWindow
from dagster_project.extract.ddl import ensure_warehouse_schema
from dagster_project.extract.rules import (
    PlausibleDates,
    column_reasons,
    entity_rule_reasons,
    flag_contradicting_hire_dates,
    flag_manager_cycles,
    flag_over_returned_lines,
    flag_parent_cycles,
    flag_references_to_rejected_rows,
    typed_expression,
)
from dagster_project.extract.staging import (
    FileContractError,
    drop_staging,
    landing_file_format,
    sql_string,
    stage_file,
)
from dagster_project.settings import default_date_window


@dataclass
class BatchResult:
    file_name: str
    status: str  # loaded | skipped | failed
    batch_id: int | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0
    error: str | None = None


@dataclass
class EntityLoadResult:
    entity: str
    batches: list[BatchResult] = field(default_factory=list)

    def _sum(self, attribute: str) -> int:
        return sum(getattr(b, attribute) for b in self.batches)

    @property
    def loaded_files(self) -> list[BatchResult]:
        return [b for b in self.batches if b.status == "loaded"]

    @property
    def skipped_files(self) -> list[BatchResult]:
        return [b for b in self.batches if b.status == "skipped"]

    @property
    def failed_files(self) -> list[BatchResult]:
        return [b for b in self.batches if b.status == "failed"]

    @property
    def rows_read(self) -> int:
        return self._sum("rows_read")

    @property
    def rows_loaded(self) -> int:
        return self._sum("rows_loaded")

    @property
    def rows_quarantined(self) -> int:
        return self._sum("rows_quarantined")

    @property
    def rows_superseded(self) -> int:
        return self._sum("rows_superseded")


def landing_files(landing_dir: Path, entity: str) -> list[Path]:
    """Every file in the entity's landing folder, in name order (hidden files excluded)."""
    folder = landing_dir / entity
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def load_entity(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    entity_name: str,
    landing_dir: Path,
    run_id: str | None = None,
    date_window: DateWindow | None = None,
) -> EntityLoadResult:
    """Load every new file of one entity; returns what happened to each file.

    `date_window` bounds every date and timestamp; without one, the window of the default settings.
    """
    entity = contract.entity(entity_name)
    ensure_warehouse_schema(con, contract)
    dates = PlausibleDates.of(date_window or default_date_window())
    result = EntityLoadResult(entity=entity.name)
    for path in _parents_first(con, entity, landing_files(landing_dir, entity.name)):
        result.batches.append(_load_file(con, entity, path, landing_dir, run_id, dates))
    return result


def _distinct(con: duckdb.DuckDBPyConnection, column: str) -> list[str]:
    """The distinct non-blank values of a staged column."""
    return [
        row[0]
        for row in con.execute(
            f"select distinct {column} from _incoming where {column} is not null"
        ).fetchall()
    ]


def _parents_first(con: duckdb.DuckDBPyConnection, entity: Entity, paths: list[Path]) -> list[Path]:
    """The files in an order that loads a parent before the rows that name it (entities with a
    reference to themselves: org_units.parent_id). In path order, a unit in a sub-folder sorted
    before its parent's file would be quarantined for good as "unknown parent_id". Files are
    otherwise kept in path order; files that depend on each other in a circle stay in it."""
    self_references = [c for c in entity.columns if c.references and c.references[0] == entity.name]
    if not self_references or len(paths) < 2:
        return paths
    defines: dict[Path, set[str]] = {}
    needs: dict[Path, set[str]] = {}
    for path in paths:
        try:
            stage_file(con, entity, path)
        except FileContractError:
            defines[path], needs[path] = set(), set()  # it fails again, with its reason, when loaded
            continue
        ids = set(_distinct(con, self_references[0].references[1]))
        named = {value for column in self_references for value in _distinct(con, column.name)}
        defines[path], needs[path] = ids, named - ids
    drop_staging(con)
    ordered: list[Path] = []
    remaining = list(paths)
    while remaining:
        pending_ids = {value for path in remaining for value in defines[path]}
        ready = next(
            (p for p in remaining if not needs[p] & (pending_ids - defines[p])),
            remaining[0],  # a circle between files: path order
        )
        ordered.append(ready)
        remaining.remove(ready)
    return ordered


def _load_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    landing_dir: Path,
    run_id: str | None,
    dates: PlausibleDates,
) -> BatchResult:
    file_name = path.relative_to(landing_dir).as_posix()
    sha256 = file_sha256(path)
    already = con.execute(
        "select batch_id from audit.load_batches where entity = ? and sha256 = ? and status = 'loaded'",
        [entity.name, sha256],
    ).fetchone()
    if already:
        return BatchResult(file_name=file_name, status="skipped", batch_id=already[0])

    stat = path.stat()
    batch_log = {
        "entity": entity.name,
        "file_name": file_name,
        "file_path": str(path.resolve()),
        "file_format": landing_file_format(path),
        "file_size_bytes": stat.st_size,
        "file_modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
        "sha256": sha256,
        "dagster_run_id": run_id,
    }
    try:
        extra_columns = stage_file(con, entity, path)
    except FileContractError as error:
        batch_id = _next_batch_id(con)
        _log_batch(con, batch_id, batch_log, status="failed", error=f"{file_name}: {error}")
        return BatchResult(file_name=file_name, status="failed", batch_id=batch_id, error=f"{error}")

    con.execute("begin transaction")
    try:
        batch_id = _next_batch_id(con)
        counts = _validate_and_write(con, entity, batch_id, file_name, extra_columns, dates)
        _log_batch(con, batch_id, batch_log, status="loaded", **counts)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        drop_staging(con)
    return BatchResult(file_name=file_name, status="loaded", batch_id=batch_id, **counts)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _next_batch_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("select nextval('audit.load_batch_id_seq')").fetchone()[0])


def _log_batch(con: duckdb.DuckDBPyConnection, batch_id: int, batch_log: dict, **outcome: object) -> None:
    row = {
        "batch_id": batch_id,
        **batch_log,
        "status": outcome.get("status"),
        "rows_read": outcome.get("rows_read"),
        "rows_loaded": outcome.get("rows_loaded"),
        "rows_quarantined": outcome.get("rows_quarantined"),
        "rows_superseded": outcome.get("rows_superseded"),
        "error": outcome.get("error"),
        "loaded_at": datetime.now(UTC).replace(tzinfo=None),
    }
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    con.execute(f"insert into audit.load_batches ({columns}) values ({placeholders})", list(row.values()))


def _validate_and_write(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    batch_id: int,
    file_name: str,
    extra: list[str],
    dates: PlausibleDates,
) -> dict[str, int]:
    typed = ", ".join(f"{typed_expression(c)} as {c.name}__typed" for c in entity.columns)
    key_typed = ", ".join(f"{k}__typed" for k in entity.key)
    key_expressions = ", ".join(f"{typed_expression(entity.column(k))} as {k}__typed" for k in entity.key)
    repeated_match = " and ".join(f"repeated.{k}__typed = typed.{k}__typed" for k in entity.key)
    sale_join = ""
    sale_columns = ""
    if entity.has_rule("return_matches_sale"):
        sale_columns = ", s.quantity as _sale_quantity, s.order_date as _sale_order_date"
        sale_join = (
            "left join raw.sales_lines as s on s._superseded_by_batch_id is null "
            "and s.order_id = t.order_id and s.line_no = t.line_no__typed"
        )
    reasons = [r for c in entity.columns for r in column_reasons(c, entity, dates)]
    reasons += entity_rule_reasons(entity)
    con.execute(
        f"""
        create or replace temp table _checked as
        with typed as (
            select _incoming.*, {typed} from _incoming
        ),
        -- Keys repeated within the file, found by aggregation rather than a window over every row
        -- (a window sorts and copies the whole file; the repeated keys are usually none).
        file_keys as (
            select _source_row, {key_expressions} from _incoming
        ),
        repeated_keys as (
            select {key_typed} from file_keys group by all having count(*) > 1
        ),
        repeated as (
            select {key_typed}, count(*) as _key_count,
                string_agg(cast(_source_row as varchar), ', ' order by _source_row) as _key_rows
            from file_keys semi join repeated_keys using ({key_typed})
            group by all
        ),
        keyed as (
            select typed.*, coalesce(repeated._key_count, 1) as _key_count, repeated._key_rows
            from typed left join repeated on {repeated_match}
        ),
        joined as (
            select t.*{sale_columns} from keyed as t {sale_join}
        )
        select v.*, list_filter([{", ".join(reasons)}], lambda r: r is not null) as _reasons
        from joined as v
        """
    )
    if entity.has_rule("return_quantity_within_sale"):
        flag_over_returned_lines(con)
    if entity.has_rule("no_parent_cycle"):
        flag_parent_cycles(con)
    if entity.has_rule("one_hire_date"):
        flag_contradicting_hire_dates(con)
    if entity.has_rule("no_manager_cycle"):
        flag_manager_cycles(con)
    for column in entity.columns:
        if column.references and column.references[0] == entity.name:
            flag_references_to_rejected_rows(con, entity, column)

    key_match = " and ".join(f"r.{k} = c.{k}__typed" for k in entity.key)
    rows_superseded = con.execute(
        f"""
        update raw.{entity.name} as r set _superseded_by_batch_id = ?
        from _checked as c
        where r._superseded_by_batch_id is null and len(c._reasons) = 0 and {key_match}
        """,
        [batch_id],
    ).fetchone()[0]

    def loaded_value(column: Column) -> str:
        value = f"{column.name}__typed"
        return f"coalesce({value}, {column.default})" if column.default is not None else value

    columns = ", ".join(entity.column_names)
    values = ", ".join(loaded_value(c) for c in entity.columns)
    rows_loaded = con.execute(
        f"""
        insert into raw.{entity.name} ({columns}, extra_columns, _load_batch_id, _source_row)
        select {values}, extra_columns, {batch_id}, _source_row from _checked where len(_reasons) = 0
        """
    ).fetchone()[0]

    source = sql_string(file_name)
    rows_quarantined = con.execute(
        f"""
        insert into quarantine.{entity.name}
            (_load_batch_id, _source_file, _source_row, _reason, {columns}, extra_columns)
        select {batch_id}, {source}, _source_row, array_to_string(_reasons, '; '), {columns}, extra_columns
        from _checked where len(_reasons) > 0
        """
    ).fetchone()[0]
    if _has_table(con, "_rejects"):
        rows_quarantined += con.execute(
            f"""
            insert into quarantine.{entity.name} (_load_batch_id, _source_file, _source_row, _reason, _raw_record)
            select {batch_id}, {source}, line,
                'malformed CSV line: ' || string_agg(error_message, '; ' order by column_idx),
                any_value(csv_line)
            from _rejects group by line
            """
        ).fetchone()[0]

    rows_read = con.execute("select count(*) from _incoming").fetchone()[0]
    if _has_table(con, "_rejects"):
        rows_read += con.execute("select count(distinct line) from _rejects").fetchone()[0]
    if rows_read != rows_loaded + rows_quarantined:  # the reconciliation the contract promises
        raise RuntimeError(
            f"{file_name}: rows read {rows_read} != loaded {rows_loaded} + quarantined {rows_quarantined}"
        )
    return {
        "rows_read": rows_read,
        "rows_loaded": rows_loaded,
        "rows_quarantined": rows_quarantined,
        "rows_superseded": rows_superseded,
    }


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where table_name = ? and temporary", [name]
        ).fetchone()[0]
    )


def top_quarantine_reasons(
    con: duckdb.DuckDBPyConnection, entity: str, batch_ids: list[int], limit: int = 5
) -> list[tuple[str, int]]:
    """The most common quarantine reasons of some batches (for run summaries and asset metadata)."""
    if not batch_ids:
        return []
    return con.execute(
        f"""
        select _reason, count(*) as n from quarantine.{entity}
        where _load_batch_id in ({", ".join(str(int(b)) for b in batch_ids)})
        group by _reason order by n desc, _reason limit ?
        """,
        [limit],
    ).fetchall()
