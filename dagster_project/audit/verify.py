"""`kpi audit verify`: recompute the hash chain and every recorded hash of the published store.

Each finding names the table and the row. What is checked (docs/audit.md):
1. the publication records: each row's record_hash, and each previous_record_hash against the record
   before it (an edited, deleted or inserted record breaks the chain);
2. the history: each version's content hash recomputed from scorecard_history and
   scorecard_scores_history, and each row against its recorded row hash;
3. the current tables BI reads: each row equal to its version in the history;
4. the inputs and checks of each version, the runs' provenance records, the stored texts, and the
   archived dbt artifacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.audit.artifacts import blob_path, sha256_hex
from dagster_project.audit.hashing import (
    GENESIS_HASH,
    digest_sql,
    period_content_sql,
    record_hash,
    row_json_sql,
)
from dagster_project.audit.seal import SEAL_TABLES, key_sql, verify_seals
from dagster_project.publish.audit_trail import publication_hash_values
from dagster_project.publish.contract import (
    CHECK_RESULTS_COLUMNS,
    COMPARISON_COLUMNS,
    KPI_INPUTS_COLUMNS,
    PUBLICATION_FILES_COLUMNS,
    PUBLICATION_RUNS_COLUMNS,
    PUBLICATIONS_COLUMNS,
    PUBLISHED_TABLES,
    SCORECARD_COLUMNS,
    SCORECARD_CONTENT_COLUMNS,
    SCORES_COLUMNS,
    VALUE_INPUTS_COLUMNS,
)
from dagster_project.publish.files import parquet_dir
from dagster_project.publish.gate_results import CHECK_APPLIES_SQL
from dagster_project.publish.steps import comparison_sql

ROW_TABLES = (
    # (history table, current table, row_hashes.table_name, columns, row key SQL)
    ("scorecard_history", "scorecard", "scorecard", SCORECARD_COLUMNS, "org_unit_id || '/' || kpi_id"),
    (
        "scorecard_scores_history",
        "scorecard_scores",
        "scorecard_scores",
        SCORES_COLUMNS,
        "org_unit_id || '/' || perspective",
    ),
)


@dataclass(frozen=True)
class Finding:
    table: str
    row: str  # which row, in words
    problem: str

    def __str__(self) -> str:
        return f"{self.table} {self.row}: {self.problem}"


@dataclass
class VerifyReport:
    path: Path
    publications: int = 0
    rows: int = 0
    head_hash: str | None = None
    findings: list[Finding] = field(default_factory=list)
    unchained: int = 0  # publications written before the audit trail existed (no record_hash)
    sealed: bool = False  # the store has the seal tables (published by a publisher that seals)
    seals: int = 0
    anchor: str | None = None  # the newest seal's hash: what `kpi audit anchor` prints
    seal_chain: tuple[str, ...] = ()
    parquet_files: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_published(published: Path) -> VerifyReport:
    """Verify a published store read-only; `published` is the published.duckdb file."""
    published = Path(published)
    if not published.is_file():
        raise FileNotFoundError(f"{published} not found: nothing has been published yet (run `kpi run`)")
    report = VerifyReport(path=published)
    with duckdb.connect(str(published), read_only=True) as con:
        _verify_chain(con, report)
        _verify_history(con, report)
        _verify_current(con, report)
        _verify_inputs_and_checks(con, report)
        _verify_provenance(con, report, published.parent)
        state, sealed = verify_seals(
            con, [t for t in PUBLISHED_TABLES if t not in SEAL_TABLES], report.head_hash
        )
        report.sealed, report.seals, report.anchor, report.seal_chain = (
            state.sealed,
            state.seals,
            state.head,
            state.chain,
        )
        explained = {finding.table for finding in report.findings}
        for finding in sealed:
            # a table-level mismatch only when no row-level check has named the table already
            if finding.row == "the table" and finding.table in explained:
                continue
            report.findings.append(Finding(finding.table, finding.row, finding.problem))
        _verify_parquet(con, report, published.parent)
    return report


def _verify_parquet(con: duckdb.DuckDBPyConnection, report: VerifyReport, data_dir: Path) -> None:
    """Each Parquet copy holds exactly the rows of its table in the store (names the first rows)."""
    folder = parquet_dir(data_dir)
    present = {
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall()
    }
    explained = {finding.table for finding in report.findings}
    for table in PUBLISHED_TABLES:
        if table not in present or table in explained:  # the store's table itself was edited: named
            continue
        path = folder / f"{table}.parquet"
        label = f"parquet {path.relative_to(data_dir)}"
        if not path.is_file():
            report.findings.append(Finding(label, "the file", "is missing"))
            continue
        report.parquet_files += 1
        source = f"read_parquet('{str(path).replace(chr(39), chr(39) * 2)}')"
        try:
            differences = [
                (key, problem)
                for extra, missing, problem in (
                    (source, table, "the row differs from the store or is not in it"),
                    (table, source, "the store's row is missing from the Parquet copy"),
                )
                for (key,) in con.execute(
                    f"select {key_sql(table, 'x')} from (select * from {extra} except all "
                    f"select * from {missing}) as x order by 1 limit 10"
                ).fetchall()
            ]
        except duckdb.Error as error:
            report.findings.append(Finding(label, "the file", f"cannot be compared with the store: {error}"))
            continue
        for key, problem in differences:
            report.findings.append(Finding(label, key, problem))


def _period(grain: str, start: object, version: object) -> str:
    return f"({grain} {start}, version {version})"


def _verify_chain(con: duckdb.DuckDBPyConnection, report: VerifyReport) -> None:
    names = [name for name, _ in PUBLICATIONS_COLUMNS]
    rows = con.execute(
        f"select {', '.join(names)} from publications order by publication_id nulls first, published_at"
    ).fetchall()
    previous = GENESIS_HASH
    # Records without chain fields are "predating" only if older than the first chained record.
    chained_since = min(
        (row[names.index("published_at")] for row in rows if row[names.index("record_hash")] is not None),
        default=None,
    )
    for row in rows:
        record = dict(zip(names, row, strict=True))
        if record["record_hash"] is None and record["publication_id"] is None:
            if chained_since is None or record["published_at"] < chained_since:
                report.unchained += 1
            else:
                report.findings.append(
                    Finding(
                        "publications",
                        _period(record["period_grain"], record["period_start"], record["version"])
                        + f" published_at {record['published_at']}",
                        "the record has no publication_id and record_hash but is newer than the first "
                        f"chained record ({chained_since}): its chain fields were removed",
                    )
                )
            continue
        where = f"publication_id={record['publication_id']} " + _period(
            record["period_grain"], record["period_start"], record["version"]
        )
        if record["previous_record_hash"] != previous:
            report.findings.append(
                Finding(
                    "publications",
                    where,
                    "previous_record_hash does not match the record before it: "
                    "a publication record was deleted, inserted or reordered",
                )
            )
        before_hash = row[: names.index("record_hash")]
        if (
            record_hash(publication_hash_values(before_hash, record["inputs_changed"]))
            != record["record_hash"]
        ):
            report.findings.append(
                Finding(
                    "publications", where, "the row was edited: its columns no longer match its record_hash"
                )
            )
        previous = record["record_hash"]
        report.publications += 1
    report.head_hash = previous if report.publications else None


def _verify_history(con: duckdb.DuckDBPyConnection, report: VerifyReport) -> None:
    # The content hash covers a version's own figures (SCORECARD_CONTENT_COLUMNS); versions published
    # before the comparison columns were left out of it have a hash over every column: either matches
    # (the full-column hash is computed only for the versions the own-figures hash does not match).
    by_version = ("period_grain", "period_start", "publication_version")
    mismatched_sql = f"""
        with content as ({
        period_content_sql(
            "scorecard_history",
            "scorecard_scores_history",
            SCORECARD_CONTENT_COLUMNS,
            SCORES_COLUMNS,
            by_version,
        )
    })
        select p.period_grain, p.period_start, p.version, p.content_hash
        from publications as p
        left join content as c
            on c.period_grain = p.period_grain and c.period_start = p.period_start
            and c.publication_version = p.version
        where p.content_hash is distinct from c.content_hash
          and p.record_hash is not null  -- versions published before the audit trail: not covered
    """
    con.execute(f"create temp table mismatched_versions as {mismatched_sql}")
    only = (
        "(select h.* from {history} as h join mismatched_versions as m on m.period_grain = h.period_grain "
        "and m.period_start = h.period_start and m.version = h.publication_version)"
    )
    recomputed = con.execute(
        f"""
        with legacy as ({
            period_content_sql(
                only.format(history="scorecard_history"),
                only.format(history="scorecard_scores_history"),
                SCORECARD_COLUMNS,
                SCORES_COLUMNS,
                by_version,
            )
        })
        select m.period_grain, m.period_start, m.version
        from mismatched_versions as m
        left join legacy as l
            on l.period_grain = m.period_grain and l.period_start = m.period_start
            and l.publication_version = m.version
        where m.content_hash is distinct from l.content_hash
        order by m.period_grain, m.period_start, m.version
        """
    ).fetchall()
    con.execute("drop table mismatched_versions")
    for grain, start, version in recomputed:
        report.findings.append(
            Finding(
                "scorecard_history",
                _period(grain, start, version),
                "the version's rows no longer match its published content_hash",
            )
        )
    for history, _, name, columns, key in ROW_TABLES:
        report.rows += con.execute(f"select count(*) from {history}").fetchone()[0]
        for grain, start, version, row_key, problem in con.execute(
            f"""
            with actual as (
                select period_grain, period_start, publication_version, {key} as row_key,
                       sha256({row_json_sql(columns)}) as row_hash
                from {history}
            ), recorded as (
                select period_grain, period_start, publication_version, row_key, row_hash
                from scorecard_row_hashes where table_name = '{name}'
            )
            {
                _row_diff_sql(
                    "actual",
                    "recorded",
                    unexpected="the row is not in the published record (inserted)",
                    missing="the row is missing (deleted)",
                    changed="the row was edited: it no longer matches its recorded row hash",
                    also=_RECORDED_VERSIONS_ONLY,
                )
            }
            """
        ).fetchall():
            report.findings.append(Finding(history, f"{_period(grain, start, version)} {row_key}", problem))


# Versions published before the audit trail have no row hashes: only recorded versions are compared.
_RECORDED_VERSIONS_ONLY = """
    and exists (select 1 from scorecard_row_hashes as x
                where x.period_grain = coalesce(a.period_grain, e.period_grain)
                  and x.period_start = coalesce(a.period_start, e.period_start)
                  and x.publication_version = coalesce(a.publication_version, e.publication_version))
"""


def _row_diff_sql(
    actual: str, expected: str, *, unexpected: str, missing: str, changed: str, also: str = ""
) -> str:
    """SQL: the rows of `actual` and `expected` (relations of period_grain, period_start,
    publication_version, row_key, row_hash) whose hashes differ, matched by period, version and row
    key; per row its period, version, key and why: `unexpected` (only in actual), `missing` (only in
    expected) or `changed`. `also` is a further condition on the pair (aliases a and e)."""
    return f"""
        select coalesce(a.period_grain, e.period_grain), coalesce(a.period_start, e.period_start),
               coalesce(a.publication_version, e.publication_version), coalesce(a.row_key, e.row_key),
               case when e.row_hash is null then '{unexpected}'
                    when a.row_hash is null then '{missing}'
                    else '{changed}' end
        from {actual} as a
        full join {expected} as e
            on e.period_grain = a.period_grain and e.period_start = a.period_start
            and e.publication_version = a.publication_version and e.row_key = a.row_key
        where a.row_hash is distinct from e.row_hash {also}
        order by 1, 2, 3, 4
    """


def _verify_current(con: duckdb.DuckDBPyConnection, report: VerifyReport) -> None:
    """The tables BI reads hold, for each period, exactly the rows of its latest version; their
    comparison columns show the current versions of the compared periods (`comparison_sql`)."""
    for history, current, _, all_columns, key in ROW_TABLES:
        columns = [c for c in all_columns if c[0] not in COMPARISON_COLUMNS] + [("published_at", "timestamp")]
        for grain, start, version, row_key, problem in con.execute(
            f"""
            with latest as (
                select period_grain, period_start, max(version) as version from publications group by all
            ), expected as (
                select h.period_grain, h.period_start, h.publication_version, {key} as row_key,
                       sha256({row_json_sql([*columns, ("publication_version", "integer")], "h")}) as row_hash
                from {history} as h
                join latest as l on l.period_grain = h.period_grain and l.period_start = h.period_start
                    and l.version = h.publication_version
            ), actual as (
                select period_grain, period_start, publication_version, {key} as row_key,
                       sha256({row_json_sql([*columns, ("publication_version", "integer")])}) as row_hash
                from {current}
            )
            {
                _row_diff_sql(
                    "actual",
                    "expected",
                    unexpected="the row is not part of the published version",
                    missing="the row of the published version is missing",
                    changed="the row differs from the published version in the history",
                )
            }
            """
        ).fetchall():
            report.findings.append(Finding(current, f"{_period(grain, start, version)} {row_key}", problem))
    # The comparison columns: what the publisher's refresh makes of the current rows. A row whose
    # compared period is not published keeps the value its version was published with (the history).
    differs = " or ".join(f"e.{name} is distinct from c.{name}" for name in COMPARISON_COLUMNS)
    named = ", ".join(f"case when e.{n} is distinct from c.{n} then '{n}' end" for n in COMPARISON_COLUMNS)
    for grain, start, version, row_key, names in con.execute(
        f"""
        with expected as ({comparison_sql("scorecard", fallback="scorecard_history")})
        select c.period_grain, c.period_start, c.publication_version, c.org_unit_id || '/' || c.kpi_id,
               concat_ws(', ', {named})
        from scorecard as c
        join expected as e
            on e.period_grain = c.period_grain and e.period_start = c.period_start
            and e.org_unit_id = c.org_unit_id and e.kpi_id = c.kpi_id
        where {differs}
        order by 1, 2, 3, 4
        """
    ).fetchall():
        report.findings.append(
            Finding(
                "scorecard",
                f"{_period(grain, start, version)} {row_key}",
                f"{names}: not the current version of the compared period",
            )
        )


def _verify_inputs_and_checks(con: duckdb.DuckDBPyConnection, report: VerifyReport) -> None:
    rows = con.execute(
        f"""
        select p.publication_id, p.period_grain, p.period_start, p.version,
               p.inputs_hash = (select {digest_sql(row_json_sql(VALUE_INPUTS_COLUMNS, "v"))} from value_inputs as v
                                where v.period_grain = p.period_grain and v.period_start = p.period_start
                                  and v.publication_version = p.version),
               p.checks_hash = (select {digest_sql(row_json_sql(CHECK_RESULTS_COLUMNS, "c"))} from check_results as c
                                where {CHECK_APPLIES_SQL.format(check="c", period="p")} and c.run_id = p.run_id)
        from publications as p
        where p.record_hash is not null
        order by p.publication_id
        """
    ).fetchall()
    for publication_id, grain, start, version, inputs_ok, checks_ok in rows:
        where = f"publication_id={publication_id} {_period(grain, start, version)}"
        if not inputs_ok:
            report.findings.append(
                Finding(
                    "value_inputs", where, "the version's input rows no longer match publications.inputs_hash"
                )
            )
        if not checks_ok:
            report.findings.append(
                Finding(
                    "check_results",
                    where,
                    "the checks that gated the version no longer match publications.checks_hash",
                )
            )

    # A version no gate check passed for was published without the gate (e.g. from a run that only
    # materialized the publish asset before the gate read results across runs: docs/quality_gate.md).
    for publication_id, grain, start, version in con.execute(
        "select publication_id, period_grain, period_start, version from publications "
        "where coalesce(checks_passed, 0) = 0 order by publication_id nulls first, period_grain, period_start"
    ).fetchall():
        report.findings.append(
            Finding(
                "publications",
                f"publication_id={publication_id} {_period(grain, start, version)}",
                "published with checks_passed = 0: no passing gate check covered this version",
            )
        )


def _verify_provenance(con: duckdb.DuckDBPyConnection, report: VerifyReport, data_dir: Path) -> None:
    names = [name for name, _ in PUBLICATION_RUNS_COLUMNS]
    runs = con.execute(f"select {', '.join(names)} from publication_runs order by recorded_at").fetchall()
    recorded = {
        run_id: provenance_hash
        for run_id, provenance_hash in con.execute(
            "select distinct run_id, provenance_hash from publications where provenance_hash is not null"
        ).fetchall()
    }
    for row in runs:
        run = dict(zip(names, row, strict=True))
        where = f"run_id={run['run_id']}"
        if record_hash(row[:-1]) != run["record_hash"]:
            report.findings.append(
                Finding("publication_runs", where, "the row was edited: it no longer matches its record_hash")
            )
        if run["run_id"] in recorded and recorded[run["run_id"]] != run["record_hash"]:
            report.findings.append(
                Finding(
                    "publication_runs",
                    where,
                    "its record_hash differs from the publications' provenance_hash",
                )
            )
        for table, columns, column in (
            ("publication_files", PUBLICATION_FILES_COLUMNS, "files_hash"),
            ("kpi_inputs", KPI_INPUTS_COLUMNS, "kpi_inputs_hash"),
        ):
            digest = con.execute(
                f"select {digest_sql(row_json_sql(columns))} from {table} where run_id = ?", [run["run_id"]]
            ).fetchone()[0]
            if digest != run[column]:
                report.findings.append(
                    Finding(table, where, f"the run's rows no longer match publication_runs.{column}")
                )
        for label, digest in (
            ("manifest.json", run["manifest_sha256"]),
            ("run_results.json", run["run_results_sha256"]),
        ):
            if digest is None:
                continue
            path = blob_path(data_dir, digest)
            if not path.exists():
                report.findings.append(
                    Finding("publication_runs", where, f"archived dbt {label} {path} is missing")
                )
            elif sha256_hex(path.read_bytes()) != digest:
                report.findings.append(
                    Finding("publication_runs", where, f"archived dbt {label} {path} was modified")
                )
    for (digest,) in con.execute(
        "select sha256 from audit_texts where sha256(text) <> sha256 order by 1"
    ).fetchall():
        report.findings.append(
            Finding("audit_texts", f"sha256={digest}", "the text no longer matches its hash")
        )
    for run_id, path in con.execute(
        "select f.run_id, f.path from publication_files as f "
        "where not exists (select 1 from audit_texts as t where t.sha256 = f.sha256) order by 1, 2"
    ).fetchall():
        report.findings.append(
            Finding("publication_files", f"run_id={run_id} {path}", "its text is missing from audit_texts")
        )
