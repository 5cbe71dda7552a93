"""The quality gate as Dagster asset checks: one per entry of expectations/checks.yml.

A check whose suite has critical expectations is `blocking`. Its result is an ERROR (which stops the
publish asset in the run) only when a critical failure names no period; a critical failure of some
periods is reported at WARN severity with the periods it blocks, so that the other periods still
publish and the publish asset leaves exactly those out (it reads audit.check_results).

Each recorded result carries the fingerprint of the rows it validated (gate/decision.py): the publish
asset of any later run uses the newest results whose fingerprint still matches the warehouse.
"""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project.defs.resources import WAREHOUSE_POOL
from dagster_project.engines import run_gate_check
from dagster_project.gate import decision
from dagster_project.gate.runner import CheckOutcome, CheckSpec, Gate, load_gate
from dagster_project.settings import Settings

CHECK_RESULTS_DDL = """
create table if not exists audit.check_results (
    run_id varchar not null,
    checked_at timestamp not null,      -- UTC
    check_name varchar not null,
    suite varchar not null,
    expectation varchar not null,
    asset varchar not null,
    severity varchar not null,          -- critical | warning
    success boolean not null,
    errored boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    failing_periods varchar,            -- JSON list of [grain, start]; NULL when it names no period
    failing_rows_sample varchar,        -- JSON list of rows (at most 20)
    details varchar,
    fingerprint varchar                 -- of the rows checked and the check's definition (gate/decision.py)
)
"""
# audit.check_results of an earlier version, without the fingerprint: its rows never match, so the
# next publication asks for the checks to run again.
CHECK_RESULTS_MIGRATION = "alter table audit.check_results add column if not exists fingerprint varchar"


def build_gate_checks(gate: Gate | None = None) -> list[dg.AssetChecksDefinition]:
    gate = gate or load_gate()
    return [_build_check(spec, gate) for spec in gate.checks]


def _build_check(spec: CheckSpec, gate: Gate) -> dg.AssetChecksDefinition:
    critical = decision.suite_blocks(gate.suites[spec.suite])

    @dg.asset_check(
        asset=dg.AssetKey(list(spec.asset)),
        name=spec.name,
        blocking=critical,
        description=gate.suites[spec.suite].get("meta", {}).get("description", spec.description),
        pool=WAREHOUSE_POOL,
        metadata={"suite": f"expectations/suites/{spec.suite}.json", "query": spec.query},
    )
    def gate_check(
        context: dg.AssetCheckExecutionContext,
        warehouse: DuckDBResource,
        settings: dg.ResourceParam[Settings],
    ) -> dg.AssetCheckResult:
        outcome = run_gate_check(spec, settings, Path(warehouse.database), gate, warehouse.connection_config)
        with warehouse.get_connection() as con:
            fingerprint = decision.current_fingerprint(
                con, spec.query, gate.suites[spec.suite], gate.parameters
            )
            record_check_outcome(con, context.run.run_id, outcome, fingerprint)
        return dg.AssetCheckResult(
            passed=outcome.passed,
            severity=decision.dagster_severity(outcome.blocks_everything),
            metadata=_check_metadata(outcome),
        )

    return gate_check


def record_check_outcome(
    con: duckdb.DuckDBPyConnection, run_id: str, outcome: CheckOutcome, fingerprint: str | None
) -> None:
    """Append every expectation's result to audit.check_results (never updated), with the
    fingerprint of the rows the check validated."""
    ensure_check_results(con)
    checked_at = datetime.now(UTC).replace(tzinfo=None)
    rows = [
        (
            run_id, checked_at, outcome.spec.name, e.suite, e.expectation, "/".join(outcome.spec.asset),
            e.severity, e.success, e.errored, e.observed_value, e.unexpected_count,
            None if e.failing_periods is None else json.dumps(sorted([g, s.isoformat()] for g, s in e.failing_periods)),
            json.dumps(e.failing_rows_sample, ensure_ascii=False), e.details, fingerprint,
        )
        for e in outcome.expectations
    ]  # fmt: skip
    con.executemany(f"insert into audit.check_results values ({', '.join('?' * 15)})", rows)


def ensure_check_results(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists audit")
    con.execute(CHECK_RESULTS_DDL)
    con.execute(CHECK_RESULTS_MIGRATION)


def _check_metadata(outcome: CheckOutcome) -> dict[str, dg.MetadataValue]:
    failed = [e for e in outcome.expectations if not e.success]
    lines = [
        f"- **{e.severity}** `{e.expectation}`: "
        + (f"{e.unexpected_count} unexpected rows" if e.unexpected_count is not None else "")
        + (f" — error: {e.details}" if e.errored else "")
        + (
            " — periods: " + ", ".join(f"{g} {s.isoformat()}" for g, s in sorted(e.failing_periods)[:12])
            if e.failing_periods
            else (" — all periods" if e.failing_periods is None else "")
        )
        for e in failed
    ]
    blocked = sorted(outcome.blocked_periods)
    return {
        "expectations": dg.MetadataValue.int(len(outcome.expectations)),
        "failed": dg.MetadataValue.int(len(failed)),
        "blocks_every_period": dg.MetadataValue.bool(outcome.blocks_everything),
        "blocked_periods": dg.MetadataValue.text(
            ", ".join(f"{g} {s.isoformat()}" for g, s in blocked) or "none"
        ),
        "failures": dg.MetadataValue.md("\n".join(lines) or "None."),
    }
