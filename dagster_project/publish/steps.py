"""The SQL steps of a publication, on a connection with the warehouse attached as `wh` and the next
published file as `pub`: snapshot the staged tables, then write every table of the publication in
one transaction (history, current rows, comparisons, audit trail, dictionary, alerts, seal) and its
Parquet copies."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import duckdb

from dagster_project.audit.hashing import period_content_sql
from dagster_project.audit.provenance import RunProvenance
from dagster_project.audit.seal import SEAL_TABLES, write_seal
from dagster_project.periods import grain_months_sql
from dagster_project.publish.audit_trail import (
    restatement_inputs_changed,
    with_inputs_note,
    write_provenance,
    write_publications,
    write_row_hashes,
    write_value_inputs,
)
from dagster_project.publish.contract import (
    ALERTS_COLUMNS,
    COMPARISON_COLUMNS,
    COMPARISONS,
    PUBLISHED_TABLES,
    SCORECARD_COLUMNS,
    SCORECARD_CONTENT_COLUMNS,
    SCORECARD_KEY,
    SCORES_COLUMNS,
    SCORES_KEY,
    STAGED_ALERTS,
    STAGED_DICTIONARY,
    STAGED_SCORECARD,
    STAGED_SCORES,
)
from dagster_project.publish.decisions import PeriodOutcome
from dagster_project.publish.files import path_literal
from dagster_project.publish.gate_results import GateResult, PeriodKey


def snapshot_staged(con: duckdb.DuckDBPyConnection) -> None:
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


def write_publication(
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
    provenance_hash = write_provenance(con, provenance) if provenance else None
    inputs_changed: dict[PeriodKey, bool | None] = {}
    if provenance:
        write_value_inputs(con, provenance.run_id)
        inputs_changed = restatement_inputs_changed(con)
    periods = [
        dataclasses.replace(
            p, inputs_changed=inputs_changed[p.key], reason=with_inputs_note(p, inputs_changed[p.key])
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
    write_row_hashes(con)
    write_publications(con, run_id, stamp, provenance, provenance_hash, inputs_changed)
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


def write_parquet(con: duckdb.DuckDBPyConnection, temporary_files: Mapping[str, Path]) -> None:
    """Each published table to a temporary Parquet file beside its final name (moved after the file)."""
    for table, tmp in temporary_files.items():
        con.execute(f"copy pub.main.{table} to {path_literal(tmp)} (format parquet)")


def _casts(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"cast({name} as {sql_type}) as {name}" for name, sql_type in columns)
