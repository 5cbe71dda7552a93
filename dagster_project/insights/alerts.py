"""Early warning (异常预警): read the alerts dbt computed (model `scorecard.kpi_alerts`) and send them.

The notification hook `notify_alerts` always writes every alert to the run log, and, when
`KPI_ALERT_WEBHOOK_URL` is set, posts them as one JSON document to that URL through the outbox of
dagster_project/outbound.py (bounded in time, retried on the next run). A failed post is logged,
never fatal: an alert that cannot be delivered must not stop the publication.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from dagster_project.outbound import Delivery, Outbox, deliver, redact, webhook_destination
from dagster_project.periods import grain_rank_sql
from dagster_project.render.text import kpi_lineage_command
from dagster_project.settings import DEFAULT_OUTBOUND_TIMEOUT_SECONDS, OutboundSettings

WEBHOOK_ENV = "KPI_ALERT_WEBHOOK_URL"
STAGED_ALERTS_TABLE = "scorecard.kpi_alerts"
SEVERITY_ORDER = ("critical", "warning")


@dataclass(frozen=True)
class Alert:
    """One row of kpi_alerts (columns as in docs/bi_tables.md)."""

    kpi_id: str
    kpi_label: str | None
    kpi_label_zh: str | None
    org_unit_id: str
    org_unit_name: str | None
    org_unit_name_zh: str | None
    period_grain: str
    period_start: date
    period_label: str
    unit: str | None
    polarity: str | None
    decimals: int | None
    value: float
    expected_low: float | None
    expected_high: float | None
    history_median: float | None
    history_periods: int | None
    robust_z: float | None
    prior_status: str | None
    status: str | None
    detected_rule: str
    severity: str
    reason: str
    owner: str | None

    @property
    def lineage_command(self) -> str:
        """The command that explains where the value comes from (issue 5's `kpi lineage`)."""
        return kpi_lineage_command(self.kpi_id, self.period_label, self.period_grain, self.org_unit_id)

    def describe(self) -> str:
        label = self.kpi_label or self.kpi_id
        unit = self.org_unit_name or self.org_unit_id
        owner = f"; owner: {self.owner}" if self.owner else ""
        return (
            f"[{self.severity}] {label} ({self.kpi_id}) at {unit} ({self.org_unit_id}), {self.period_label}: "
            f"{self.value:,.{self.decimals if self.decimals is not None else 2}f} {self.reason}{owner}"
        )

    def as_json_object(self) -> dict[str, object]:
        values = asdict(self)
        values["period_start"] = self.period_start.isoformat()
        values["lineage_command"] = self.lineage_command
        return values


ALERT_COLUMNS: tuple[str, ...] = tuple(Alert.__dataclass_fields__)

_ORDER_BY = (
    "case severity when 'critical' then 0 else 1 end, "
    f"{grain_rank_sql('period_grain')}, "
    "period_start desc, abs(coalesce(robust_z, 0)) desc, kpi_id, org_unit_id, detected_rule"
)


def latest_alerts(con: duckdb.DuckDBPyConnection) -> list[Alert]:
    """The staged alerts of the latest complete period of each grain: what this computation found
    new (older periods' alerts were reported by the runs that computed them)."""
    rows = con.execute(
        f"""
        select {", ".join(ALERT_COLUMNS)}
        from {STAGED_ALERTS_TABLE}
        where (period_grain, period_start) in (
            select period_grain, max(period_start) from scorecard.scorecard group by period_grain
        )
        order by {_ORDER_BY}
        """
    ).fetchall()
    return [Alert(*row) for row in rows]


def period_alerts(con: duckdb.DuckDBPyConnection, table: str, grain: str, start: date) -> list[Alert]:
    """The alerts of one period from `table` (the published `kpi_alerts` or the staged one)."""
    rows = con.execute(
        f"select {', '.join(ALERT_COLUMNS)} from {table} where period_grain = ? and period_start = ? "
        f"order by {_ORDER_BY}",
        [grain, start],
    ).fetchall()
    return [Alert(*row) for row in rows]


def alert_payload(alerts: Sequence[Alert], run_id: str | None) -> dict[str, object]:
    """The JSON document posted to the webhook."""
    return {
        "source": "kpi-pipeline",
        "kind": "kpi_alerts",
        "run_id": run_id,
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "alert_count": len(alerts),
        "critical_count": sum(a.severity == "critical" for a in alerts),
        "alerts": [a.as_json_object() for a in alerts],
    }


def notify_alerts(
    alerts: Sequence[Alert],
    log: logging.Logger | logging.LoggerAdapter,
    run_id: str | None = None,
    webhook_url: str | None = None,
    data_dir: Path | None = None,
    budget_seconds: float = DEFAULT_OUTBOUND_TIMEOUT_SECONDS,
) -> Delivery | None:
    """Log every alert; when `webhook_url` is set, queue them as one JSON document in the outbox of
    `data_dir` and post the outbox's alert payloads (this one and any an earlier run could not
    deliver) within `budget_seconds`. Returns the delivery, None when there is no webhook. Never
    raises: an alert that cannot be delivered must not fail a run that published."""
    if not alerts:
        log.info("Early warning: no alerts for the latest periods.")
    else:
        log.warning(f"Early warning: {len(alerts)} alert(s) for the latest periods:")
        for alert in alerts:
            log.warning(f"  {alert.describe()}")
    destination = webhook_destination(OutboundSettings(alert_webhook_url=webhook_url))
    if destination is None or data_dir is None:
        return None
    try:
        outbox = Outbox(data_dir)
        if alerts:
            body = json.dumps(alert_payload(alerts, run_id), ensure_ascii=False).encode("utf-8")
            outbox.add(destination.name, [body])
        delivery = deliver(outbox, destination, budget_seconds)
    except Exception as error:
        log.error(
            f"Early warning: the alerts could not be queued or posted to {destination.shown}: "
            f"{redact(f'{type(error).__name__}: {error}', destination.secrets())}. "
            "The alerts are in the run log above and in kpi_alerts."
        )
        return None
    if delivery.ok:
        if delivery.sent:
            log.info(f"Early warning: {delivery.describe()}.")
    else:
        log.error(
            f"Early warning: {delivery.describe()}. The alerts are in the run log above and in "
            "kpi_alerts; check the URL and the receiver."
        )
    return delivery
