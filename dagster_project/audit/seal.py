"""The publication seal: one chained record per publication over the content of every published table.

The publications' hash chain vouches for the versions; the seal vouches for everything else the
publisher writes (the batch log `kpi lineage` shows, the attempts, the alerts, the dictionary, …), so
`kpi audit verify` covers every published table (docs/audit.md):

- `publication_seals`: per publication (one call of the publisher, whatever it published), a digest
  and a row count of every published table as the publication left it, the head of the publications'
  chain, a hash over the seal's row hashes, and `previous_seal_hash` / `seal_hash`: a second chain,
  whose head `kpi audit anchor` prints;
- `sealed_row_hashes`: a hash per row of the tables that have no row-level record of their own
  (SEALED_ROWS), so a finding names the row: for an append-only table, each row once, by the seal
  that first saw it; for a table the publisher replaces, all of its rows, by every seal.

Hashes are over each row's exact canonical text (doubles to 17 significant digits: every bit).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import duckdb

from dagster_project.audit.hashing import GENESIS_HASH, record_hash, row_json_sql

SEALS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seal_id", "bigint"),
    ("run_id", "varchar"),
    ("sealed_at", "timestamp"),
    ("publications_head", "varchar"),
    ("table_digests", "varchar"),
    ("rows_hash", "varchar"),
    ("previous_seal_hash", "varchar"),
    ("seal_hash", "varchar"),
)
SEALED_ROW_HASHES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seal_id", "bigint"),
    ("table_name", "varchar"),
    ("row_key", "varchar"),
    ("row_hash", "varchar"),
)
SEAL_TABLES = ("publication_seals", "sealed_row_hashes")

Kind = Literal["append", "replace"]
# The tables with a row hash per row in the seal: their key (naming the row) and how they change.
SEALED_ROWS: dict[str, tuple[tuple[str, ...], Kind]] = {
    "source_batches": (("batch_id",), "append"),
    "publication_attempts": (("attempt_id",), "append"),
    "check_results": (
        ("run_id", "suite", "expectation", "table_name", "period_grain", "period_start"),
        "append",
    ),
    "publication_runs": (("run_id",), "append"),
    "publication_files": (("run_id", "kind", "path"), "append"),
    "kpi_inputs": (("run_id", "kpi_id", "semantic_model", "offset_months"), "append"),
    "kpi_alerts": (("period_grain", "period_start", "org_unit_id", "kpi_id", "detected_rule"), "replace"),
    "kpi_dictionary": (("kpi_id",), "replace"),
}
# How a row of any published table is named in a finding (e.g. a Parquet copy that differs).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    **{table: key for table, (key, _) in SEALED_ROWS.items()},
    "scorecard": ("period_grain", "period_start", "publication_version", "org_unit_id", "kpi_id"),
    "scorecard_history": ("period_grain", "period_start", "publication_version", "org_unit_id", "kpi_id"),
    "scorecard_scores": ("period_grain", "period_start", "publication_version", "org_unit_id", "perspective"),
    "scorecard_scores_history": (
        "period_grain",
        "period_start",
        "publication_version",
        "org_unit_id",
        "perspective",
    ),
    "publications": ("publication_id", "period_grain", "period_start", "version"),
    "audit_texts": ("sha256",),
    "value_inputs": (
        "period_grain",
        "period_start",
        "publication_version",
        "org_unit_id",
        "semantic_model",
        "offset_months",
        "load_batch_id",
    ),
    "scorecard_row_hashes": ("table_name", "period_grain", "period_start", "publication_version", "row_key"),
    "publication_seals": ("seal_id",),
    "sealed_row_hashes": ("seal_id", "table_name", "row_key"),
}


def key_sql(table: str, alias: str | None = None) -> str:
    """SQL: the text naming a row of `table` (its key columns, `name=value`, space-separated)."""
    prefix = f"{alias}." if alias else ""
    return (
        "concat_ws(' ', "
        + ", ".join(
            f"'{name}=' || coalesce(cast({prefix}{name} as varchar), 'NULL')" for name in ROW_KEYS[table]
        )
        + ")"
    )


def table_columns(con: duckdb.DuckDBPyConnection, database: str | None, table: str) -> list[tuple[str, str]]:
    """A table's (column, type) in order; database None: the connection's own."""
    return [
        (name, data_type)
        for name, data_type in con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where database_name = coalesce(?, current_database()) and schema_name = 'main' "
            "and table_name = ? order by column_index",
            [database, table],
        ).fetchall()
    ]


def exact_row_json_sql(columns: Sequence[tuple[str, str]], alias: str | None = None) -> str:
    return row_json_sql(columns, alias, double_format="%.17g")


def table_digest_sql(relation: str, columns: Sequence[tuple[str, str]]) -> str:
    """SQL: (row count, digest) of a relation: SHA-256 over its rows' exact hashes, sorted."""
    row = f"sha256({exact_row_json_sql(columns, 't')})"
    return (
        f"select count(*), sha256(coalesce(string_agg({row}, chr(10) order by {row}), '')) "
        f"from {relation} as t"
    )


def _rows_hash_sql(qualified: str) -> str:
    return (
        "select sha256(coalesce(string_agg(table_name || ' ' || row_key || ' ' || row_hash, chr(10) "
        f"order by table_name, row_key, row_hash), '')) from {qualified} where seal_id = ?"
    )


def seal_values(row: Sequence[object]) -> list[object]:
    """The fields a seal's hash covers: every column before seal_hash."""
    return list(row[:-1])


def write_seal(
    con: duckdb.DuckDBPyConnection, database: str, tables: Sequence[str], run_id: str, stamp: datetime
) -> str:
    """Seal the state of `tables` in attached database `database` (inside the publisher's transaction)."""
    q = f"{database}.main."
    last = con.execute(
        f"select seal_id, seal_hash from {q}publication_seals order by seal_id desc limit 1"
    ).fetchone()
    seal_id = (last[0] if last else 0) + 1
    previous = last[1] if last else GENESIS_HASH
    for table, (_, kind) in SEALED_ROWS.items():
        columns = table_columns(con, database, table)
        if not columns:
            continue
        rows = f"select '{table}', {key_sql(table, 't')}, sha256({exact_row_json_sql(columns, 't')}) from {q}{table} as t"
        if kind == "append":  # the rows no earlier seal recorded
            rows = (
                f"{rows} except all select table_name, row_key, row_hash from {q}sealed_row_hashes "
                f"where table_name = '{table}'"
            )
        con.execute(f"insert into {q}sealed_row_hashes select {seal_id}, * from ({rows}) order by all")
    digests = {}
    for table in tables:
        columns = table_columns(con, database, table)
        if columns:
            count, digest = con.execute(table_digest_sql(f"{q}{table}", columns)).fetchone()  # type: ignore[misc]
            digests[table] = {"rows": count, "sha256": digest}
    head = con.execute(
        f"select record_hash from {q}publications where publication_id is not null "
        "order by publication_id desc limit 1"
    ).fetchone()
    rows_hash = con.execute(_rows_hash_sql(f"{q}sealed_row_hashes"), [seal_id]).fetchone()[0]  # type: ignore[index]
    values: list[object] = [
        seal_id,
        run_id,
        stamp,
        head[0] if head else None,
        json.dumps(digests, sort_keys=True, separators=(",", ":")),
        rows_hash,
        previous,
    ]
    digest = record_hash(values)
    con.execute(f"insert into {q}publication_seals values (?, ?, ?, ?, ?, ?, ?, ?)", [*values, digest])
    return digest


@dataclass(frozen=True)
class SealFinding:
    table: str
    row: str
    problem: str


@dataclass
class SealState:
    sealed: bool = False  # the store has the seal tables
    seals: int = 0
    head: str | None = None  # the newest seal's hash: the anchor
    chain: tuple[str, ...] = ()  # every seal_hash, oldest first


def verify_seals(
    con: duckdb.DuckDBPyConnection, tables: Sequence[str], publications_head: str | None
) -> tuple[SealState, list[SealFinding]]:
    """Check the seal chain, each seal's row hashes, and the store against the newest seal."""
    state = SealState()
    findings: list[SealFinding] = []
    present = {
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' and database_name = current_database()"
        ).fetchall()
    }
    if not set(SEAL_TABLES) <= present:
        return state, findings
    state.sealed = True
    names = [name for name, _ in SEALS_COLUMNS]
    seals = con.execute(f"select {', '.join(names)} from publication_seals order by seal_id").fetchall()
    previous = GENESIS_HASH
    chain: list[str] = []
    for row in seals:
        seal = dict(zip(names, row, strict=True))
        where = f"seal_id={seal['seal_id']} (run {seal['run_id']})"
        if seal["previous_seal_hash"] != previous:
            findings.append(
                SealFinding(
                    "publication_seals",
                    where,
                    "previous_seal_hash does not match the seal before it: a seal was deleted, inserted or reordered",
                )
            )
        if record_hash(seal_values(row)) != seal["seal_hash"]:
            findings.append(
                SealFinding(
                    "publication_seals",
                    where,
                    "the row was edited: its columns no longer match its seal_hash",
                )
            )
        rows_hash = con.execute(_rows_hash_sql("sealed_row_hashes"), [seal["seal_id"]]).fetchone()[0]  # type: ignore[index]
        if rows_hash != seal["rows_hash"]:
            findings.append(
                SealFinding(
                    "sealed_row_hashes",
                    f"seal_id={seal['seal_id']}",
                    "the seal's row hashes were edited, inserted or deleted: they no longer match its rows_hash",
                )
            )
        previous = seal["seal_hash"]
        chain.append(previous)
    state.seals = len(seals)
    state.chain = tuple(chain)
    state.head = chain[-1] if chain else None
    if not seals:
        if con.execute("select count(*) from publications").fetchone()[0]:  # type: ignore[index]
            findings.append(
                SealFinding("publication_seals", "all rows", "the seals are missing: the table is empty")
            )
        return state, findings
    newest = dict(zip(names, seals[-1], strict=True))
    where = f"seal_id={newest['seal_id']} (run {newest['run_id']})"
    if newest["publications_head"] != publications_head:
        findings.append(
            SealFinding(
                "publications",
                f"head {publications_head}",
                f"the newest chained record is not the one the newest seal ({where}) vouches for "
                f"({newest['publications_head']}): records were added, removed or unchained after it",
            )
        )
    findings.extend(_verify_sealed_rows(con, newest["seal_id"]))
    digests = json.loads(newest["table_digests"] or "{}")
    for table in tables:
        recorded = digests.get(table)
        columns = table_columns(con, None, table) if table in present else []
        if recorded is None:
            continue
        if not columns:
            findings.append(
                SealFinding(table, "the table", f"is missing, but the newest seal ({where}) covers it")
            )
            continue
        count, digest = con.execute(table_digest_sql(table, columns)).fetchone()  # type: ignore[misc]
        if digest != recorded["sha256"]:
            findings.append(
                SealFinding(
                    table,
                    "the table",
                    f"its content ({count} row(s); sealed: {recorded['rows']}) no longer matches the newest "
                    f"seal ({where}): rows were edited, inserted or deleted after publication",
                )
            )
    return state, findings


def _verify_sealed_rows(con: duckdb.DuckDBPyConnection, newest: int) -> list[SealFinding]:
    findings: list[SealFinding] = []
    for table, (_, kind) in SEALED_ROWS.items():
        columns = table_columns(con, None, table) if _exists(con, table) else []
        if not columns:
            continue
        scope = "" if kind == "append" else f" and seal_id = {newest}"
        for row_key, now, sealed in con.execute(
            f"""
            with actual as (
                select {key_sql(table, "t")} as row_key, sha256({exact_row_json_sql(columns, "t")}) as row_hash
                from {table} as t
            ), a as (
                select row_key, list(row_hash order by row_hash) as hashes, count(*) as n from actual group by all
            ), r as (
                select row_key, list(row_hash order by row_hash) as hashes, count(*) as n
                from sealed_row_hashes where table_name = '{table}'{scope} group by all
            )
            select coalesce(a.row_key, r.row_key), coalesce(a.n, 0), coalesce(r.n, 0)
            from a full join r on a.row_key = r.row_key
            where a.hashes is distinct from r.hashes
            order by 1
            """
        ).fetchall():
            if not sealed:
                problem = "the row is not in the sealed record (inserted after publication)"
            elif not now:
                problem = "the row is missing (deleted after publication)"
            elif now == sealed:
                problem = "the row was edited: it no longer matches its sealed row hash"
            else:
                problem = f"{now} row(s) now, {sealed} sealed: rows were edited, inserted or deleted"
            findings.append(SealFinding(table, row_key, problem))
    return findings


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'main' and table_name = ?",
        [table],
    ).fetchone()
    return bool(found and found[0])
