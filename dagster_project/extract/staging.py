"""Read one landing file as text into the temp table `_incoming` (_source_row, the contract's
columns, extra columns as JSON): CSV or Parquet, read by DuckDB, with the header checked against
the entity and CSV record numbers turned into physical line numbers; a file that cannot be read
as its entity raises FileContractError."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import duckdb

from dagster_project.contract import Entity

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet",)


class FileContractError(Exception):
    """The file cannot be read as its entity at all; nothing of it is loaded."""


def landing_file_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return "unsupported"


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# Characters DuckDB's file readers take as a glob pattern (read_csv('a[v2].csv') reads a2.csv and av.csv).
_GLOB_CHARACTERS = frozenset("[]*?{}")


def _exact_path(path: Path) -> str:
    """The path as a DuckDB file argument that matches exactly this file: each glob character is
    put in a character class of its own (`[` → `[[]`), so the reader never reads another file."""
    return "".join(f"[{char}]" if char in _GLOB_CHARACTERS else char for char in str(path))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def stage_file(con: duckdb.DuckDBPyConnection, entity: Entity, path: Path) -> list[str]:
    """Read the file into `_incoming` (all text, trimmed, blanks as NULL). Returns the extra columns."""
    drop_staging(con)
    file_format = landing_file_format(path)
    source_header = _source_header(path, file_format) if file_format != "unsupported" else None
    if source_header:
        _reject_ambiguous_header(source_header)
    if file_format == "csv":
        # With the columns named from the header, DuckDB does not sniff the file: an unterminated
        # quote or an over-long line is then a rejected line (quarantined), not a file that fails.
        if source_header:
            names = ", ".join(f"{sql_string(name)}: 'VARCHAR'" for name in source_header)
            columns = f"auto_detect = false, columns = {{{names}}}, "
        else:
            columns = ""  # empty or unreadable here: DuckDB's sniffer says what is wrong
        source = (
            f"read_csv({sql_string(_exact_path(path))}, header = true, all_varchar = true, delim = ',', "
            f"quote = '\"', escape = '\"', encoding = 'utf-8', {columns}store_rejects = true, "
            "rejects_table = '_rejects', rejects_scan = '_rejects_scan')"
        )
        row_number = "row_number() over ()"
    elif file_format == "parquet":
        own_row_number = "file_row_number" in {name.lower() for name in source_header or ()}
        if own_row_number:  # the file has a column of that name: the option would clash with it
            source = f"read_parquet({sql_string(_exact_path(path))})"
            row_number = "row_number() over ()"
        else:
            source = f"read_parquet({sql_string(_exact_path(path))}, file_row_number = true)"
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
        pairs = ", ".join(f"{sql_string(name.strip())}: {text(name)}" for name in extra)
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


def drop_staging(con: duckdb.DuckDBPyConnection) -> None:
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
