"""The publish asset: write, audit, publish. Runs after the gate and publishes every complete period
the gate let through into published.duckdb (dagster_project/publish/writer.py does the writing)."""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project.audit.provenance import collect_provenance
from dagster_project.defs.gate import ensure_check_results
from dagster_project.defs.resources import WAREHOUSE_POOL
from dagster_project.gate import decision
from dagster_project.gate.decision import Failure, Period
from dagster_project.gate.runner import Gate, load_gate
from dagster_project.publish.gate_results import CheckResult, GateResult
from dagster_project.publish.writer import publish_scorecards

PUBLISHED_KEY = dg.AssetKey(["published", "scorecard"])
STAGED = [dg.AssetKey(["scorecard", "scorecard"]), dg.AssetKey(["scorecard", "scorecard_scores"])]


# A run tag whose value is appended to the reason of every publication attempt of the run (set by
# the restatement sensor and `kpi run`), e.g. "late data: sales_lines batch 42".
REASON_TAG = "kpi/reason"


def build_publish_asset(
    partitions_def: dg.PartitionsDefinition | None = None, gate: Gate | None = None
) -> dg.AssetsDefinition:
    """`gate`: the gate the checks were built with (its parameters are part of their fingerprints)."""
    checks = gate or load_gate()
    gated_assets = sorted({dg.AssetKey(list(spec.asset)) for spec in checks.checks}, key=str)

    @dg.asset(
        key=PUBLISHED_KEY,
        group_name="published",
        # The gated assets are upstream so that their blocking checks hold publication back.
        deps=[
            *STAGED,
            dg.AssetKey(["kpi", "kpi_dictionary"]),
            dg.AssetKey(["scorecard", "kpi_alerts"]),
            dg.AssetKey(["lineage", "batch_contributions"]),  # the inputs of every value (docs/audit.md)
            *gated_assets,
        ],
        pool=WAREHOUSE_POOL,
        # Month partitions (defs/partitions.py): a month's run publishes what changed, e.g. that month
        # and the quarter and year it completes; a backfill of a range is one run.
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run() if partitions_def else None,
        kinds={"duckdb", "parquet"},
        description="The published scorecards BI tools read: published.duckdb and Parquet copies, "
        "replaced atomically, one immutable version per period and change (docs/bi_tables.md).",
        automation_condition=dg.AutomationCondition.eager()
        & dg.AutomationCondition.all_deps_blocking_checks_passed(),
    )
    def published_scorecard(
        context: dg.AssetExecutionContext, warehouse: DuckDBResource
    ) -> dg.MaterializeResult:
        warehouse_path = Path(warehouse.database)
        with warehouse.get_connection() as con:
            gate, runs = gate_result(con, checks)
        data_dir = warehouse_path.parent
        others = sorted(run for run in runs if run != context.run_id)
        reason = "; ".join(
            [*([context.run.tags[REASON_TAG]] if context.run.tags.get(REASON_TAG) else []),
             *([f"gate results of run(s) {', '.join(others)}"] if others else [])]
        )  # fmt: skip
        report = publish_scorecards(
            warehouse_path, data_dir, gate, run_id=context.run_id, duckdb_config=warehouse.connection_config,
            reason_context=reason or None, provenance=collect_provenance(context.run_id, data_dir),
        )  # fmt: skip
        for period in report.blocked:
            context.log.warning(f"{period.period_label} ({period.period_grain}) blocked: {period.reason}")
        rows = "\n".join(
            f"| {p.period_label} | {p.period_grain} | {p.outcome} | {p.version or ''} | {p.reason} |"
            for p in report.periods
        )
        return dg.MaterializeResult(
            metadata={
                "published": dg.MetadataValue.int(len(report.published)),
                "unchanged": dg.MetadataValue.int(len(report.unchanged)),
                "blocked": dg.MetadataValue.int(len(report.blocked)),
                "published_file": dg.MetadataValue.path(str(report.published_path)),
                "periods": dg.MetadataValue.md(
                    "| period | grain | outcome | version | reason |\n|---|---|---|---|---|\n" + rows
                ),
            }
        )

    return published_scorecard


def gate_result(con: duckdb.DuckDBPyConnection, gate: Gate) -> tuple[GateResult, set[str]]:
    """The gate's decision for the staged content as it is now, from audit.check_results, and the
    runs whose check results it uses.

    For each check of the gate, the newest results from any run whose fingerprint equals the
    fingerprint of the check's rows now (gate/decision.py) count; a check without such results
    blocks every period. Then every period a blocking failure names is blocked (a month blocks its
    quarter and year, a failure naming no period blocks all)."""
    periods: list[Period] = [
        (grain, start)
        for grain, start in con.execute(
            "select distinct period_grain, period_start from scorecard.scorecard order by 1, 2"
        ).fetchall()
    ]
    ensure_check_results(con)
    checks: list[CheckResult] = []
    failures: list[Failure] = []
    missing: list[str] = []
    runs: set[str] = set()
    for spec in gate.checks:
        fingerprint = decision.current_fingerprint(con, spec.query, gate.suites[spec.suite], gate.parameters)
        newest = con.execute(
            """select run_id, checked_at from audit.check_results
               where check_name = ? and fingerprint = ? order by checked_at desc limit 1""",
            [spec.name, fingerprint],
        ).fetchone()
        if newest is None:
            missing.append(spec.name)
            continue
        runs.add(newest[0])
        rows = con.execute(
            """select check_name, suite, expectation, asset, severity, success, errored, observed_value,
                      failing_periods, failing_rows_sample, details
               from audit.check_results where check_name = ? and run_id = ? and checked_at = ?""",
            [spec.name, *newest],
        ).fetchall()
        for (
            name,
            suite,
            expectation,
            asset,
            severity,
            success,
            errored,
            observed,
            failing,
            sample,
            details,
        ) in rows:
            failing_periods = (
                None if failing is None else [(g, date.fromisoformat(s)) for g, s in json.loads(failing)]
            )
            common = {
                "suite": suite, "expectation": f"{name}: {expectation}", "table": asset,
                "severity": decision.shown_severity(severity, errored), "success": bool(success),
                "observed_value": observed, "failing_rows_sample": sample, "details": details,
            }  # fmt: skip
            if success or failing_periods is None:
                checks.append(CheckResult(**common))
            else:
                checks.extend(
                    CheckResult(**common, period_grain=g, period_start=s) for g, s in failing_periods
                )
            if decision.blocks(severity, bool(success), bool(errored)):
                named = None if failing_periods is None else frozenset(failing_periods)
                failures.append(Failure(reason=f"{name}: {expectation}", failing_periods=named))
    blocked = decision.blocked_periods(failures, periods)
    result = GateResult.from_checks(checks)
    # Why a period is blocked when no failed check names it: a blocked period inside it, or no results.
    reasons = {p: list(r) for p, r in blocked.items() if not result.critical_failures(p)}
    for period in periods if missing else ():
        reasons.setdefault(period, []).append(
            f"{decision.MISSING_RESULTS_REASON} (check(s) {', '.join(missing)})"
        )
    return GateResult.from_checks(checks, blocked_periods=blocked, reasons=reasons), runs
