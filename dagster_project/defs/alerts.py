"""Early warning in Dagster: a non-blocking (WARN) check on the dbt model `scorecard/kpi_alerts` that
lists the latest periods' alerts and sends them through the notification hook (dagster_project/insights/alerts.py)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.defs.resources import WAREHOUSE_POOL
from dagster_project.insights.alerts import Alert, latest_alerts, notify_alerts
from dagster_project.outbound import Delivery
from dagster_project.settings import Settings

ALERTS_KEY = dg.AssetKey(["scorecard", "kpi_alerts"])
METADATA_ROWS = 50  # the check's table lists at most this many alerts; the count says how many there are


def build_alert_checks(settings: Settings | None = None) -> list[dg.AssetChecksDefinition]:
    """`settings` gives the webhook (KPI_ALERT_WEBHOOK_URL), the outbox's folder and the time budget;
    None: alerts are logged only."""
    outbound = settings.outbound if settings is not None else None

    @dg.asset_check(
        asset=ALERTS_KEY,
        name="kpi_early_warning",
        blocking=False,
        pool=WAREHOUSE_POOL,
        description="Early warning (异常预警): fails as a warning when a KPI value of the latest month, "
        "quarter or year is out of its own history's range (robust z-score) or turned from green to red. "
        "Never blocks publication; the alerts are logged and posted to $KPI_ALERT_WEBHOOK_URL when set.",
    )
    def kpi_early_warning(
        context: dg.AssetCheckExecutionContext, warehouse: DuckDBResource
    ) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            alerts = latest_alerts(con)
        delivery = notify_alerts(
            alerts,
            context.log,
            run_id=context.run.run_id,
            webhook_url=outbound.alert_webhook_url if outbound else None,
            data_dir=settings.data_dir if settings is not None else None,
            budget_seconds=outbound.timeout_seconds if outbound else 0,
        )
        return dg.AssetCheckResult(
            passed=not alerts,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "alerts": dg.MetadataValue.int(len(alerts)),
                "critical": dg.MetadataValue.int(sum(a.severity == "critical" for a in alerts)),
                "periods": dg.MetadataValue.text(
                    ", ".join(sorted({a.period_label for a in alerts})) or "none"
                ),
                "webhook": dg.MetadataValue.text(_webhook_outcome(delivery)),
                "list": dg.MetadataValue.md(_alert_table(alerts)),
            },
        )

    return [kpi_early_warning]


def _webhook_outcome(delivery: Delivery | None) -> str:
    if delivery is None:
        return "not sent"
    if delivery.ok:
        return "posted" if delivery.sent else "nothing to send"
    return f"post failed, {delivery.pending} payload(s) kept in the outbox (see the run log)"


def _alert_table(alerts: list[Alert]) -> str:
    if not alerts:
        return "No alerts."
    rows = [
        f"| {a.severity} | {a.period_label} | {a.kpi_label or a.kpi_id} | {a.org_unit_id} | "
        f"{a.value:,.{a.decimals if a.decimals is not None else 2}f} | {a.reason} | {a.owner or ''} |"
        for a in alerts[:METADATA_ROWS]
    ]
    more = (
        f"\n\n… and {len(alerts) - METADATA_ROWS} more in kpi_alerts." if len(alerts) > METADATA_ROWS else ""
    )
    return (
        "| severity | period | KPI | org unit | value | reason | owner |\n|---|---|---|---|---|---|---|\n"
        + ("\n".join(rows) + more)
    )
