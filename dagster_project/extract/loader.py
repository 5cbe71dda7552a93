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
"""

from __future__ import annotations

import csv
import gzip
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.contract import Column, Contract, Entity, format_number
from dagster_project.contract.window import DateWindow
from dagster_project.settings import default_date_window

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)

# Strict shapes for values read as text (DuckDB's casts alone are lenient: '3.5' → 4, '2025-1-5' → date).
_INTEGER_PATTERN = r"[+-]?[0-9]+(\.0*)?"
_DECIMAL_PATTERN = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
_DATE_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIMESTAMP_PATTERN = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?"
_TYPE_WORDS = {
    "integer": "a whole number",
    "decimal": "a number",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a timestamp (YYYY-MM-DD HH:MM:SS)",
}


class FileContractError(Exception):
    """The file cannot be read as its entity at all; nothing of it is loaded."""


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


# --------------------------------------------------------------------------------------------
# Warehouse schema
# --------------------------------------------------------------------------------------------

LOAD_BATCHES_DDL = """
create table if not exists audit.load_batches (
    batch_id bigint primary key,
    entity varchar not null,
    file_name varchar not null,       -- path relative to the landing folder
    file_path varchar not null,       -- absolute path at load time
    file_format varchar not null,
    file_size_bytes bigint not null,
    file_modified_at timestamp,
    sha256 varchar not null,
    status varchar not null,          -- loaded | failed
    rows_read bigint,
    rows_loaded bigint,
    rows_quarantined bigint,
    rows_superseded bigint,
    error varchar,
    loaded_at timestamp not null,     -- UTC
    dagster_run_id varchar
)
"""


def ensure_warehouse_schema(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the raw, quarantine and audit tables the contract implies (idempotent)."""
    for schema in ("raw", "quarantine", "audit"):
        con.execute(f"create schema if not exists {schema}")
    con.execute("create sequence if not exists audit.load_batch_id_seq start 1")
    con.execute(LOAD_BATCHES_DDL)
    for entity in contract.entities.values():
        typed_columns = ",\n    ".join(f"{c.name} {c.sql_type}" for c in entity.columns)
        con.execute(
            f"""
            create table if not exists raw.{entity.name} (
                {typed_columns},
                extra_columns varchar,          -- columns beyond the contract, as a JSON object
                _load_batch_id bigint not null,
                _source_row bigint not null,
                _superseded_by_batch_id bigint  -- set when a later batch corrects this row
            )"""
        )
        text_columns = ",\n    ".join(f"{c.name} varchar" for c in entity.columns)
        con.execute(
            f"""
            create table if not exists quarantine.{entity.name} (
                _load_batch_id bigint not null,
                _source_file varchar not null,
                _source_row bigint,             -- CSV: line number (header = 1); Parquet: row number
                _reason varchar not null,
                {text_columns},
                extra_columns varchar,
                _raw_record varchar             -- the raw text of a line that could not be parsed
            )"""
        )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


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
    dates = _PlausibleDates.of(date_window or default_date_window())
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
            _stage_file(con, entity, path)
        except FileContractError:
            defines[path], needs[path] = set(), set()  # it fails again, with its reason, when loaded
            continue
        ids = set(_distinct(con, self_references[0].references[1]))
        named = {value for column in self_references for value in _distinct(con, column.name)}
        defines[path], needs[path] = ids, named - ids
    _drop_staging(con)
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


@dataclass(frozen=True)
class _PlausibleDates:
    """A window with today fixed for one load, so every file of it is judged by the same bounds."""

    earliest: date
    latest: date

    @classmethod
    def of(cls, window: DateWindow) -> _PlausibleDates:
        return cls(window.earliest, window.latest())


def _load_file(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    path: Path,
    landing_dir: Path,
    run_id: str | None,
    dates: _PlausibleDates,
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
        "file_format": _file_format(path),
        "file_size_bytes": stat.st_size,
        "file_modified_at": datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
        "sha256": sha256,
        "dagster_run_id": run_id,
    }
    try:
        extra_columns = _stage_file(con, entity, path)
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
        _drop_staging(con)
    return BatchResult(file_name=file_name, status="loaded", batch_id=batch_id, **counts)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "unsupported"


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


# --------------------------------------------------------------------------------------------
# Staging: read the file as text, one temp table `_incoming` (_source_row, contract columns, extras)
# --------------------------------------------------------------------------------------------


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Characters DuckDB's file readers take as a glob pattern (read_csv('a[v2].csv') reads a2.csv and av.csv).
_GLOB_CHARACTERS = frozenset("[]*?{}")


def _exact_path(path: Path) -> str:
    """The path as a DuckDB file argument that matches exactly this file: each glob character is
    put in a character class of its own (`[` → `[[]`), so the reader never reads another file."""
    return "".join(f"[{char}]" if char in _GLOB_CHARACTERS else char for char in str(path))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stage_file(con: duckdb.DuckDBPyConnection, entity: Entity, path: Path) -> list[str]:
    """Read the file into `_incoming` (all text, trimmed, blanks as NULL). Returns the extra columns."""
    _drop_staging(con)
    file_format = _file_format(path)
    source_header = _source_header(path, file_format) if file_format != "unsupported" else None
    if source_header:
        _reject_ambiguous_header(source_header)
    if file_format == "csv":
        # With the columns named from the header, DuckDB does not sniff the file: an unterminated
        # quote or an over-long line is then a rejected line (quarantined), not a file that fails.
        if source_header:
            names = ", ".join(f"{_sql_string(name)}: 'VARCHAR'" for name in source_header)
            columns = f"auto_detect = false, columns = {{{names}}}, "
        else:
            columns = ""  # empty or unreadable here: DuckDB's sniffer says what is wrong
        source = (
            f"read_csv({_sql_string(_exact_path(path))}, header = true, all_varchar = true, delim = ',', "
            f"quote = '\"', escape = '\"', encoding = 'utf-8', {columns}store_rejects = true, "
            "rejects_table = '_rejects', rejects_scan = '_rejects_scan')"
        )
        row_number = "row_number() over ()"
    elif file_format == "parquet":
        own_row_number = "file_row_number" in {name.lower() for name in source_header or ()}
        if own_row_number:  # the file has a column of that name: the option would clash with it
            source = f"read_parquet({_sql_string(_exact_path(path))})"
            row_number = "row_number() over ()"
        else:
            source = f"read_parquet({_sql_string(_exact_path(path))}, file_row_number = true)"
            row_number = "file_row_number + 1"
    else:
        raise FileContractError(
            f"unsupported file type '{path.suffix}' (a landing file must be .csv, .csv.gz or .parquet)"
        )

    try:
        header = [row[0] for row in con.execute(f"describe select * from {source}").fetchall()]
    except duckdb.Error as error:
        raise FileContractError(f"cannot be read as {file_format.upper()}: {_first_line(error)}") from None
    if file_format == "parquet" and not own_row_number:
        header = [name for name in header if name != "file_row_number"]
    if not source_header:
        _reject_ambiguous_header(header)

    by_normalized = {name.strip().lower(): name for name in header}
    missing = [c for c in entity.required_columns if c not in by_normalized]
    if missing:
        raise FileContractError(
            f"missing required column(s) {', '.join(missing)} for entity {entity.name} "
            f"(the header has: {', '.join(header) or 'nothing'})"
        )
    contract_names = set(entity.column_names)
    extra = [name for normalized, name in by_normalized.items() if normalized not in contract_names]

    def text(name: str) -> str:
        return f"nullif(trim(cast({_ident(name)} as varchar)), '')"

    selected = [
        f"{text(by_normalized[c.name]) if c.name in by_normalized else 'cast(null as varchar)'} as {c.name}"
        for c in entity.columns
    ]
    if extra:
        pairs = ", ".join(f"{_sql_string(name.strip())}: {text(name)}" for name in extra)
        selected.append(f"cast(to_json(map {{{pairs}}}) as varchar) as extra_columns")
    else:
        selected.append("cast(null as varchar) as extra_columns")

    try:
        con.execute(
            f"create or replace temp table _incoming as "
            f"select {row_number} as _source_row, {', '.join(selected)} from {source}"
        )
    except duckdb.Error as error:
        raise FileContractError(f"cannot be read as {file_format.upper()}: {_first_line(error)}") from None

    if file_format == "csv":
        _number_csv_lines(con, path)
    return extra


def _source_header(path: Path, file_format: str) -> list[str] | None:
    """The column names as the file spells them: DuckDB renames names that repeat regardless of
    case (sku, SKU → sku, SKU_1), which would hide the ambiguity. None when the header cannot be
    read here (DuckDB's reading then says why)."""
    try:
        if file_format == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as handle:
            return next(csv.reader(handle), [])
    except (OSError, EOFError, csv.Error, ValueError):
        return None


def _reject_ambiguous_header(header: list[str]) -> None:
    """Two columns whose names differ only in case or surrounding spaces (or not at all): which one
    is the contract's column cannot be told, so the file is not read."""
    by_normalized: dict[str, list[str]] = {}
    for name in header:
        by_normalized.setdefault(name.strip().lower(), []).append(name)
    repeated = [names for names in by_normalized.values() if len(names) > 1]
    if repeated:
        pairs = "; ".join(" and ".join(repr(name) for name in names) for names in repeated)
        raise FileContractError(
            f"ambiguous header: columns {pairs} differ only in case or spaces (rename or remove one)"
        )


def _number_csv_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Turn record numbers into physical line numbers (header = line 1), skipping rejected lines.

    DuckDB numbers a rejected line by records; its physical line is found from its byte position,
    and the lines its text spans (an unterminated quote runs on over the following lines) are
    skipped. Assumes one line per good record, which holds for files without quoted line breaks.
    """
    rejects = con.execute(
        "select line, min(line_byte_position), any_value(csv_line) from _rejects group by line order by 2"
    ).fetchall()
    if not rejects:
        con.execute("update _incoming set _source_row = _source_row + 1")
        return
    starts, total_lines = _lines_at(path, [position for _, position, _ in rejects])
    ends = [
        start + (text or "").rstrip("\r\n").count("\n")
        for (_, _, text), start in zip(rejects, starts, strict=True)
    ]
    covered = {line for start, end in zip(starts, ends, strict=True) for line in range(start, end + 1)}
    if total_lines > 1 + con.execute("select count(*) from _incoming").fetchone()[0] + len(covered):
        # A quote that never closes takes the rest of the file into its record, beyond the text
        # DuckDB keeps of it: the last rejected record runs to the last line.
        covered.update(range(ends[-1] + 1, total_lines + 1))
        ends[-1] = total_lines
    spans = [
        [
            f" (one record over lines {start} to {end}: a quote opened on line {start} is not closed where it should be)",
            line,
        ]
        for (line, _, _), start, end in zip(rejects, starts, ends, strict=True)
        if end > start
    ]
    if spans:
        con.executemany("update _rejects set error_message = error_message || ? where line = ?", spans)
    con.execute("create or replace temp table _reject_lines (line bigint, physical_line bigint)")
    con.executemany(
        "insert into _reject_lines values (?, ?)", [[r[0], s] for r, s in zip(rejects, starts, strict=True)]
    )
    con.execute(
        "update _rejects set line = p.physical_line from _reject_lines as p where _rejects.line = p.line"
    )
    con.execute("create or replace temp table _covered_lines (line bigint)")
    con.executemany("insert into _covered_lines values (?)", [[line] for line in sorted(covered)])
    con.execute(
        """
        create or replace temp table _line_map as
        with good_lines as (
            select line from range(2, 2 + (select count(*) from _incoming) + ?) as t(line)
            where line not in (select line from _covered_lines)
        )
        select row_number() over (order by line) as record_no, line from good_lines
        """,
        [len(covered)],
    )
    con.execute(
        "update _incoming set _source_row = m.line from _line_map as m where _incoming._source_row = m.record_no"
    )


def _lines_at(path: Path, positions: list[int]) -> tuple[list[int], int]:
    """The 1-based line of each 1-based byte position (ascending) of the (decompressed) file, and
    the file's number of lines."""
    lines: list[int] = []
    newlines, offset, last = 0, 0, b"\n"
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        pending = iter(positions)
        target = next(pending, None)
        while True:
            chunk = handle.read(1 << 20)
            while target is not None and (not chunk or target - 1 <= offset + len(chunk)):
                lines.append(newlines + chunk[: max(target - 1 - offset, 0)].count(b"\n") + 1)
                target = next(pending, None)
            if not chunk:
                break
            newlines += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
    return lines, newlines + (0 if last == b"\n" else 1)


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    for table in (
        "_incoming",
        "_checked",
        "_line_map",
        "_rejects",
        "_rejects_scan",
        "_reject_lines",
        "_covered_lines",
    ):
        con.execute(f"drop table if exists {table}")


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0]


# --------------------------------------------------------------------------------------------
# Validation in SQL: `_checked` = staged text + typed values + list of reasons per row
# --------------------------------------------------------------------------------------------


def _typed_expression(column: Column) -> str:
    c = column.name
    match column.type:
        case "text":
            return c
        case "integer":
            return (
                f"case when regexp_full_match({c}, '{_INTEGER_PATTERN}') "
                f"then try_cast(split_part({c}, '.', 1) as bigint) end"
            )
        case "decimal":
            return (
                f"case when regexp_full_match({c}, '{_DECIMAL_PATTERN}') then coalesce("
                f"try_cast({c} as {column.sql_type}), try_cast(try_cast({c} as double) as {column.sql_type})) end"
            )
        case "date":
            return f"case when regexp_full_match({c}, '{_DATE_PATTERN}') then try_cast({c} as date) end"
        case "timestamp":
            return (
                f"case when regexp_full_match({c}, '{_TIMESTAMP_PATTERN}') "
                f"then try_cast(replace({c}, 'T', ' ') as timestamp) end"
            )
    raise ValueError(f"unknown column type {column.type!r}")


def _quoted_value(column: str) -> str:
    return f"'''' || {column} || ''''"


def _column_reasons(column: Column, entity: Entity, dates: _PlausibleDates) -> list[str]:
    """SQL expressions that give a reason (text) when the value breaks a rule, else NULL."""
    c, typed = column.name, f"{column.name}__typed"
    reasons = []
    if column.required:
        reasons.append(f"case when {c} is null then 'missing required field {c}' end")
    if column.type != "text":
        reasons.append(
            f"case when {c} is not null and {typed} is null then "
            f"'{c} is not {_TYPE_WORDS[column.type]}: ' || {_quoted_value(c)} end"
        )
    if column.min is not None:
        operator, words = (">", "greater than") if column.min_exclusive else (">=", "at least")
        reasons.append(
            f"case when {typed} is not null and not ({typed} {operator} {column.min}) then "
            f"'{c} must be {words} {format_number(column.min)}: ' || {c} end"
        )
    if column.max is not None:
        reasons.append(
            f"case when {typed} is not null and {typed} > {column.max} then "
            f"'{c} must be at most {format_number(column.max)}: ' || {c} end"
        )
    if column.type in ("date", "timestamp"):
        day = f"cast({typed} as date)"
        earliest, latest = dates.earliest.isoformat(), dates.latest.isoformat()
        reasons.append(
            f"case when {typed} is not null and ({day} < date '{earliest}' or {day} > date '{latest}') then "
            f"'{c} ' || {c} || ' is outside the plausible dates {earliest} … {latest} "
            "(KPI_FIRST_MONTH minus KPI_DATE_HISTORY_MONTHS to today plus KPI_DATE_FUTURE_DAYS)' end"
        )
    if column.accepted_values:
        values = ", ".join(_sql_string(v) for v in column.accepted_values)
        reasons.append(
            f"case when {c} is not null and {c} not in ({values}) then "
            f"'{c} must be one of {', '.join(column.accepted_values)}: ' || {_quoted_value(c)} end"
        )
    if column.references:
        ref_entity, ref_column = column.references
        known = f"select {ref_column} from raw.{ref_entity} where _superseded_by_batch_id is null"
        if ref_entity == entity.name:  # e.g. a parent defined in the same file
            known += f" union select {ref_column} from _incoming"
        reasons.append(
            f"case when {c} is not null and {c} not in ({known}) then "
            f"'unknown {c} ' || {_quoted_value(c)} || ' (not in {ref_entity})' end"
        )
    return reasons


def _entity_rule_reasons(entity: Entity) -> list[str]:
    reasons: list[str] = []
    key = ", ".join(entity.key)
    key_values = " || ', ' || ".join(f"cast({k}__typed as varchar)" for k in entity.key)
    key_present = " and ".join(f"{k}__typed is not null" for k in entity.key)
    reasons.append(
        f"case when _key_count > 1 and {key_present} then 'duplicate key ({key}) = (' || {key_values} || ') appears ' "
        f"|| _key_count || ' times in this file (rows ' || _key_rows || ')' end"
    )
    if entity.has_rule("at_least_one_score"):
        reasons.append(
            "case when nps_score is null and csat_score is null "
            "then 'at least one of nps_score and csat_score is required' end"
        )
    if entity.has_rule("resolved_not_before_opened"):
        reasons.append(
            "case when resolved_at__typed < opened_at__typed "
            "then 'resolved_at ' || resolved_at || ' is before opened_at ' || opened_at end"
        )
    if entity.has_rule("parent_not_self"):
        reasons.append("case when parent_id = org_unit_id then 'parent_id is the unit itself' end")
    if entity.has_rule("single_root"):
        reasons.append(
            # The root already loaded wins; otherwise the file's first root row.
            """case when parent_id is null and org_unit_id is not null
                    and org_unit_id <> coalesce(
                        (select r.org_unit_id from raw.org_units as r
                         where r._superseded_by_batch_id is null and r.parent_id is null limit 1),
                        (select i.org_unit_id from _incoming as i where i.parent_id is null
                         and i.org_unit_id is not null order by i._source_row limit 1))
               then 'a second root unit (only one unit may have no parent_id)' end"""
        )
    if entity.has_rule("discount_within_gross"):
        reasons.append(
            # Only on a valid quantity and price: otherwise their own reasons say what is wrong.
            "case when quantity__typed > 0 and unit_price__typed >= 0 "
            "and discount_amount__typed > quantity__typed * unit_price__typed then "
            "'discount_amount ' || discount_amount || ' is more than the line''s gross value quantity × "
            "unit_price = ' || cast(quantity__typed * unit_price__typed as varchar) end"
        )
    if entity.has_rule("return_matches_sale"):
        reasons.append(
            "case when order_id is not null and line_no__typed is not null and _sale_quantity is null "
            "then 'no sales line for order_id ' || order_id || ' line_no ' || line_no || ' (orphan return)' end"
        )
    if entity.has_rule("return_not_before_sale"):
        reasons.append(
            "case when return_date__typed < _sale_order_date "
            "then 'return_date ' || return_date || ' is before the order_date ' || _sale_order_date end"
        )
    return reasons


def _validate_and_write(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    batch_id: int,
    file_name: str,
    extra: list[str],
    dates: _PlausibleDates,
) -> dict[str, int]:
    typed = ", ".join(f"{_typed_expression(c)} as {c.name}__typed" for c in entity.columns)
    key_typed = ", ".join(f"{k}__typed" for k in entity.key)
    key_expressions = ", ".join(f"{_typed_expression(entity.column(k))} as {k}__typed" for k in entity.key)
    repeated_match = " and ".join(f"repeated.{k}__typed = typed.{k}__typed" for k in entity.key)
    sale_join = ""
    sale_columns = ""
    if entity.has_rule("return_matches_sale"):
        sale_columns = ", s.quantity as _sale_quantity, s.order_date as _sale_order_date"
        sale_join = (
            "left join raw.sales_lines as s on s._superseded_by_batch_id is null "
            "and s.order_id = t.order_id and s.line_no = t.line_no__typed"
        )
    reasons = [r for c in entity.columns for r in _column_reasons(c, entity, dates)]
    reasons += _entity_rule_reasons(entity)
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
        _flag_over_returned_lines(con)
    if entity.has_rule("no_parent_cycle"):
        _flag_parent_cycles(con)
    for column in entity.columns:
        if column.references and column.references[0] == entity.name:
            _flag_references_to_rejected_rows(con, entity, column)

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

    source = _sql_string(file_name)
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


def _flag_references_to_rejected_rows(con: duckdb.DuckDBPyConnection, entity: Entity, column: Column) -> None:
    """A row may name a parent defined in the same file; if that parent is rejected, so is the row.

    Repeats until nothing changes, so a rejected unit takes its whole subtree in the file with it.
    """
    ref_column = column.references[1]
    while True:
        changed = con.execute(
            f"""
            update _checked set _reasons = list_append(_reasons,
                '{column.name} ' || {_quoted_value(column.name)} || ' is rejected in this file')
            where len(_reasons) = 0
              and {column.name} in (select {ref_column} from _checked where len(_reasons) > 0)
              and {column.name} not in (select {ref_column} from _checked where len(_reasons) = 0)
              and {column.name} not in (select {ref_column} from raw.{entity.name}
                                        where _superseded_by_batch_id is null)
            """
        ).fetchone()[0]
        if changed == 0:
            return


def _flag_parent_cycles(con: duckdb.DuckDBPyConnection) -> None:
    """Reject every row of this file that lies on a parent_id cycle (A → B → A): such a hierarchy
    never reaches the root, and dbt's closure of it fails. The hierarchy judged is the one the file
    would leave: its valid rows, and the current loaded rows it does not correct. A unit whose chain
    only runs into a cycle is taken with it afterwards (_flag_references_to_rejected_rows)."""
    con.execute(
        """
        update _checked set _reasons = list_append(_reasons,
            'parent_id cycle: ' || array_to_string(list_append(c.path, c.node), ' → ')
            || ' (the chain of parents never reaches the root)')
        from (
            with recursive new_units as (
                select org_unit_id as unit, parent_id as parent from _checked where len(_reasons) = 0
            ),
            edges as (
                select unit, parent from new_units
                union all
                select org_unit_id, parent_id from raw.org_units
                where _superseded_by_batch_id is null and org_unit_id not in (select unit from new_units)
            ),
            walk(start, node, path) as (
                select unit, parent, [unit] from new_units where parent is not null
                union all
                select w.start, e.parent, list_append(w.path, w.node)
                from walk as w join edges as e on e.unit = w.node
                where not list_contains(w.path, w.node) and e.parent is not null
            )
            select start, node, path from walk where node = start
        ) as c
        where _checked.org_unit_id = c.start and len(_checked._reasons) = 0
        """
    )


def _flag_over_returned_lines(con: duckdb.DuckDBPyConnection) -> None:
    """Reject new returns that push a line's returned quantity past its sold quantity.

    Returns already loaded (and not corrected by this file) count first, then this file's
    otherwise-valid returns in return_date, return_id order.
    """
    con.execute(
        """
        update _checked set _reasons = list_append(_reasons,
            'returns of order_id ' || o.order_id || ' line_no ' || o.line_no || ' would total '
            || o.returned_total || ', more than the ' || o.sold || ' sold')
        from (
            with candidates as (
                select _source_row, return_id__typed as return_id, order_id, line_no__typed as line_no,
                       return_date__typed as return_date, quantity__typed as quantity,
                       _sale_quantity as sold, 1 as is_new
                from _checked where len(_reasons) = 0
            ),
            loaded as (
                select null as _source_row, r.return_id, r.order_id, r.line_no, r.return_date, r.quantity,
                       null as sold, 0 as is_new
                from raw.returns as r
                where r._superseded_by_batch_id is null
                  and r.return_id not in (select return_id from candidates)
                  and (r.order_id, r.line_no) in (select (order_id, line_no) from candidates)
            ),
            running as (
                select *, sum(quantity) over (
                    partition by order_id, line_no order by is_new, return_date, return_id
                    rows between unbounded preceding and current row) as returned_total,
                    max(sold) over (partition by order_id, line_no) as line_sold
                from (select * from candidates union all select * from loaded)
            )
            select _source_row, order_id, line_no, returned_total, line_sold as sold
            from running where is_new = 1 and returned_total > line_sold
        ) as o
        where _checked._source_row = o._source_row
        """
    )


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
