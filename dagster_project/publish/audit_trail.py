"""The audit trail a publication writes (docs/audit.md): the run's provenance, the input batches of
every published value, a hash per published row, and one publication record per new version in a
hash chain; and whether a restatement's inputs changed."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

import duckdb

from dagster_project.audit.hashing import (
    GENESIS_HASH,
    digest_sql,
    record_hash,
    row_json_sql,
)
from dagster_project.audit.provenance import RunProvenance
from dagster_project.periods import grain_months_sql
from dagster_project.publish.contract import (
    CHECK_RESULTS_COLUMNS,
    KPI_INPUTS_COLUMNS,
    PUBLICATION_FILES_COLUMNS,
    PUBLICATIONS_COLUMNS,
    SCORECARD_COLUMNS,
    SCORES_COLUMNS,
    VALUE_INPUTS_COLUMNS,
)
from dagster_project.publish.decisions import PeriodOutcome
from dagster_project.publish.gate_results import CHECK_APPLIES_SQL, PeriodKey

INPUTS_UNCHANGED_NOTE = (
    "inputs unchanged: the same source batches and row counts as version {previous} (no new or "
    "changed file); the change comes from definitions, targets, code or an edit of the warehouse"
)


def with_inputs_note(period: PeriodOutcome, changed: bool | None) -> str:
    if changed is not False or period.version is None:
        return period.reason
    head, context, tail = period.reason.partition("; context: ")
    return f"{head}; {INPUTS_UNCHANGED_NOTE.format(previous=period.version - 1)}{context}{tail}"


def restatement_inputs_changed(con: duckdb.DuckDBPyConnection) -> dict[PeriodKey, bool | None]:
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


def write_provenance(con: duckdb.DuckDBPyConnection, provenance: RunProvenance) -> str:
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


def write_value_inputs(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
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


def write_row_hashes(con: duckdb.DuckDBPyConnection) -> None:
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


def write_publications(
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
