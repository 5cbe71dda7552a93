"""Early warning: a planted anomaly becomes a published alert, a warning check, a run-log line and a
JSON post to a local webhook; a failed post is logged, not fatal."""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import dagster as dg
import duckdb
import pytest

from dagster_project.defs.alerts import ALERTS_KEY, build_alert_checks
from dagster_project.defs.resources import Warehouse
from dagster_project.insights.alerts import WEBHOOK_ENV, Alert, notify_alerts, period_alerts
from dagster_project.outbound import Outbox, undelivered
from dagster_project.publish.files import published_path
from dagster_project.sample_data.generator import generate_sample_data
from dagster_project.settings import OutboundSettings, Settings
from tests.helpers import run_pipeline_on, set_unit_cost_share

LAST_MONTH = "2025-12"
COLLAPSED = "ST-001"  # its gross margin collapses in the last month: an adverse anomaly
SOARING = "ST-002"  # its gross margin soars: an anomaly in the good direction, no alert


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Small generated data (no bad rows) with two planted gross-margin anomalies, run through the pipeline."""
    root = tmp_path_factory.mktemp("alerts")
    generate_sample_data(root / "landing", sales_lines=4_000, bad_rows=False)
    assert set_unit_cost_share(root / "landing", LAST_MONTH, COLLAPSED, 0.97) > 0
    assert set_unit_cost_share(root / "landing", LAST_MONTH, SOARING, 0.05) > 0
    settings, summary = run_pipeline_on(root / "landing", root / "data")
    assert summary.success, summary.errors
    assert not summary.blocked, summary.blocked
    return settings


def published_alerts(settings: Settings, grain: str = "month", start: str = "2025-12-01") -> list[Alert]:
    with duckdb.connect(str(published_path(settings.data_dir)), read_only=True) as con:
        return period_alerts(con, "kpi_alerts", grain, date.fromisoformat(start))


def test_planted_anomaly_is_a_published_alert_with_range_and_owner(planted: Settings) -> None:
    alerts = published_alerts(planted)
    (alert,) = [
        a
        for a in alerts
        if (a.kpi_id, a.org_unit_id, a.detected_rule) == ("gross_margin_pct", COLLAPSED, "robust_z")
    ]
    assert alert.period_label == LAST_MONTH
    assert alert.severity == "critical"
    assert alert.value < 5  # 3 % margin: cost at 97 % of the price (less any discounts)
    assert alert.expected_low is not None and alert.expected_high is not None
    assert alert.value < alert.expected_low < alert.history_median < alert.expected_high  # type: ignore[operator]
    assert alert.robust_z is not None and alert.robust_z <= -6
    assert alert.history_periods == 12
    assert alert.reason.startswith("below the expected range")
    with duckdb.connect(str(published_path(planted.data_dir)), read_only=True) as con:
        (owner,) = con.execute(
            "select owner from kpi_dictionary where kpi_id = 'gross_margin_pct'"
        ).fetchone()
        (actual,) = con.execute(
            "select actual from scorecard where kpi_id = 'gross_margin_pct' and org_unit_id = ? "
            "and period_grain = 'month' and period_label = ?",
            [COLLAPSED, LAST_MONTH],
        ).fetchone()
    assert alert.owner == owner and owner
    assert alert.value == pytest.approx(actual)


def test_an_anomaly_in_the_good_direction_raises_no_alert(planted: Settings) -> None:
    alerts = published_alerts(planted)
    assert not [a for a in alerts if (a.kpi_id, a.org_unit_id) == ("gross_margin_pct", SOARING)]
    with duckdb.connect(str(planted.warehouse_path), read_only=True) as con:
        (margin,) = con.execute(
            "select actual from scorecard.scorecard where kpi_id = 'gross_margin_pct' and org_unit_id = ? "
            "and period_grain = 'month' and period_label = ?",
            [SOARING, LAST_MONTH],
        ).fetchone()
    assert margin > 90  # far out of its history, but a margin that high is good news


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"content_type": self.headers["Content-Type"], "json": json.loads(body)})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP server that records the JSON posted to it."""
    received: list[dict] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/kpi", received
    finally:
        server.shutdown()
        server.server_close()


def run_alert_check(settings: Settings) -> tuple[dg.ExecuteInProcessResult, dg.DagsterInstance]:
    """The early-warning check alone, against the built warehouse, as the pipeline job runs it."""
    defs = dg.Definitions(
        assets=[dg.AssetSpec(ALERTS_KEY)],
        asset_checks=build_alert_checks(settings),
        jobs=[
            dg.define_asset_job("early_warning", selection=dg.AssetSelection.checks_for_assets(ALERTS_KEY))
        ],
        resources={"warehouse": Warehouse(database=str(settings.warehouse_path))},
    )
    instance = dg.DagsterInstance.ephemeral()
    return defs.resolve_job_def("early_warning").execute_in_process(instance=instance), instance


def test_alert_check_warns_logs_and_posts_json_to_the_webhook(
    planted: Settings, webhook: tuple[str, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = webhook
    monkeypatch.setenv(WEBHOOK_ENV, url)
    result, instance = run_alert_check(replace(planted, outbound=OutboundSettings.from_env()))
    assert result.success  # a warning never fails the run
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.metadata["webhook"].value == "posted"
    assert "ST-001" in evaluation.metadata["list"].value

    (post,) = received
    assert post["content_type"].startswith("application/json")
    payload = post["json"]
    assert payload["run_id"] == result.run_id
    assert payload["alert_count"] == len(payload["alerts"]) == evaluation.metadata["alerts"].value
    (planted_alert,) = [
        a
        for a in payload["alerts"]
        if (a["kpi_id"], a["org_unit_id"], a["period_label"], a["detected_rule"])
        == ("gross_margin_pct", COLLAPSED, LAST_MONTH, "robust_z")
    ]
    assert planted_alert["severity"] == "critical"
    assert planted_alert["expected_low"] > planted_alert["value"]
    assert planted_alert["owner"]
    assert planted_alert["lineage_command"] == (
        f"kpi lineage gross_margin_pct --period {LAST_MONTH} --grain month --org {COLLAPSED}"
    )
    # only the latest month, quarter and year are sent
    assert {a["period_label"] for a in payload["alerts"]} <= {LAST_MONTH, "2025-Q4", "2025"}

    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert any("Gross margin" in m and COLLAPSED in m and "[critical]" in m for m in messages)


def test_a_garbage_reply_neither_fails_the_check_nor_holds_it(planted: Settings) -> None:
    """A webhook that answers something that is not HTTP (BadStatusLine) used to fail the run after
    it published; now the check ends within the time budget, warns, and keeps the payload."""
    from tests.test_outbound import garbage_server

    with garbage_server() as url:
        settings = replace(planted, outbound=OutboundSettings(alert_webhook_url=url, timeout_seconds=1.5))
        started = time.monotonic()
        result, _ = run_alert_check(settings)
        elapsed = time.monotonic() - started
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.metadata["webhook"].value.startswith("post failed, 1 payload(s) kept in the outbox")
    assert elapsed < 1.5 + 20  # + starting the in-process Dagster job
    lines = undelivered(planted.data_dir, settings.outbound)
    assert len(lines) == 1 and "BadStatusLine" in lines[0]
    Outbox(planted.data_dir).path.unlink()  # leave the module's data as it was


def test_a_failed_post_is_logged_and_not_fatal(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    # A port nobody listens on: bind one, then close it.
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    port = server.server_address[1]
    server.server_close()
    alert = Alert(
        "nps", "NPS", "净推荐值", "S1", "Store 1", "一店", "month", date(2025, 12, 1),
        "2025-12", "score", "higher_is_better", 0, -40.0, -10.0, 60.0, 25.0, 12, -4.0, "green", "red",
        "robust_z", "warning", "below the expected range -10 to 60", "Customer experience",
    )  # fmt: skip
    logger = logging.getLogger("test_alerts")
    with caplog.at_level(logging.INFO, logger="test_alerts"):
        delivery = notify_alerts(
            [alert], logger, webhook_url=f"http://127.0.0.1:{port}/", data_dir=tmp_path, budget_seconds=2
        )
    assert delivery is not None and not delivery.ok and delivery.pending == 1
    assert "NPS (nps) at Store 1 (S1), 2025-12: -40 below the expected range" in caplog.text
    assert f"{WEBHOOK_ENV} (http://127.0.0.1:{port}/): 1 alert payload(s) not delivered" in caplog.text


def test_no_webhook_no_alerts_nothing_sent(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test_alerts")
    with caplog.at_level(logging.INFO, logger="test_alerts"):
        assert notify_alerts([], logger) is None
    assert "no alerts" in caplog.text


def test_every_published_alert_obeys_its_rule(planted: Settings) -> None:
    """Over all the generated data: the z-score side, the thresholds and the crossing hold for every row."""
    with duckdb.connect(str(published_path(planted.data_dir)), read_only=True) as con:
        rows = con.execute(
            "select polarity, value, expected_low, expected_high, history_periods, robust_z, prior_status, "
            "status, detected_rule, severity from kpi_alerts"
        ).fetchall()
    assert {row[8] for row in rows} == {"robust_z", "green_to_red"}
    for polarity, value, low, high, history, z, prior, status, rule, severity in rows:
        if rule == "green_to_red":
            assert (prior, status, severity) == ("green", "red", "warning")
            continue
        assert 6 <= history <= 12
        adverse = -z if polarity == "higher_is_better" else z
        assert adverse >= 3.5  # the adverse side only, beyond the warning threshold
        assert value < low if polarity == "higher_is_better" else value > high
        assert severity == ("critical" if adverse >= 6 else "warning")


def test_planted_alert_matches_a_hand_computed_robust_z(planted: Settings) -> None:
    """Median and MAD of the 12 months before, recomputed in Python from the published scorecard."""
    (alert,) = [
        a
        for a in published_alerts(planted)
        if (a.kpi_id, a.org_unit_id, a.detected_rule) == ("gross_margin_pct", COLLAPSED, "robust_z")
    ]
    with duckdb.connect(str(published_path(planted.data_dir)), read_only=True) as con:
        history = [
            row[0]
            for row in con.execute(
                "select actual from scorecard where kpi_id = 'gross_margin_pct' and org_unit_id = ? "
                "and period_grain = 'month' and period_start < date '2025-12-01' and actual is not null "
                "order by period_start desc limit 12",
                [COLLAPSED],
            ).fetchall()
        ]
    median = statistics.median(history)
    mad = statistics.median(abs(v - median) for v in history)
    assert alert.history_median == pytest.approx(median)
    assert alert.robust_z == pytest.approx((alert.value - median) / (1.4826 * mad))
    assert alert.expected_low == pytest.approx(median - 3.5 * 1.4826 * mad)
    assert alert.expected_high == pytest.approx(median + 3.5 * 1.4826 * mad)
