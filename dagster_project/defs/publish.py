"""The publish asset: write, audit, publish. Runs after the gate and publishes every complete period
the gate let through into published.duckdb (dagster_project/publish.py does the writing)."""

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project.defs.extract import WAREHOUSE_POOL
from dagster_project.gate.runner import Period, load_gate, period_contains
from dagster_project.lineage.provenance import collect_provenance
from dagster_project.publish import CheckResult, GateResult, publish_scorecards

PUBLISHED_KEY = dg.AssetKey(["published", "scorecard"])
STAGED = [dg.AssetKey(["scorecard", "scorecard"]), dg.AssetKey(["scorecard", "scorecard_scores"])]


# A run tag whose value is appended to the reason of every publication attempt of the run (set by
# the restatement sensor and `kpi run`), e.g. "late data: sales_lines batch 42".
REASON_TAG = "kpi/reason"


def build_publish_asset(partitions_def: dg.PartitionsDefinition | None = None) -> dg.AssetsDefinition:
    gated_assets = sorted({dg.AssetKey(list(spec.asset)) for spec in load_gate().checks}, key=str)

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
            gate = gate_result(con, context.run_id)
        data_dir = warehouse_path.parent
        report = publish_scorecards(
            warehouse_path, data_dir, gate, run_id=context.run_id, duckdb_config=warehouse.connection_config,
            reason_context=context.run.tags.get(REASON_TAG), provenance=collect_provenance(context.run_id, data_dir),
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


def gate_result(con: duckdb.DuckDBPyConnection, run_id: str) -> GateResult:
    """The gate's decision for a run, from audit.check_results: the check results per period, and
    every complete period a critical failure blocks (a month blocks its quarter and year)."""
    periods: list[Period] = [
        (grain, start)
        for grain, start in con.execute(
            "select distinct period_grain, period_start from scorecard.scorecard order by 1, 2"
        ).fetchall()
    ]
    has_results = con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'audit' and table_name = 'check_results'"
    ).fetchone()[0]
    rows = (
        con.execute(
            """select check_name, suite, expectation, asset, severity, success, errored, observed_value,
                      failing_periods, failing_rows_sample, details
               from audit.check_results where run_id = ?""",
            [run_id],
        ).fetchall()
        if has_results
        else []
    )
    checks: list[CheckResult] = []
    blocked: set[Period] = set()
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
        blocks = not success and (severity == "critical" or errored)
        failing_periods = (
            None if failing is None else [(g, date.fromisoformat(s)) for g, s in json.loads(failing)]
        )
        common = {
            "suite": suite, "expectation": f"{name}: {expectation}", "table": asset,
            "severity": "critical" if errored else severity, "success": bool(success), "observed_value": observed,
            "failing_rows_sample": sample, "details": details,
        }  # fmt: skip
        if success or failing_periods is None:
            checks.append(CheckResult(**common))
            if blocks:
                blocked.update(periods)
            continue
        for grain, start in failing_periods:
            checks.append(CheckResult(**common, period_grain=grain, period_start=start))
            if blocks:
                blocked.update(p for p in periods if period_contains(p, (grain, start)))
    return GateResult.from_checks(checks, blocked_periods=blocked)
