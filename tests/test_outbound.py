"""Outbound HTTP (dagster_project/outbound.py): hostile endpoints never fail a run nor hold it past its
time budget, undelivered items wait in the outbox for the next run, and no URL secret reaches a log."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from dagster_project.insights.alerts import Alert, notify_alerts
from dagster_project.outbound import (
    Destination,
    Outbox,
    deliver,
    redact,
    redact_url,
    undelivered,
)
from dagster_project.settings import OutboundSettings, SettingsError

BUDGET = 1.5  # seconds per destination and pass, as KPI_OUTBOUND_TIMEOUT_SECONDS would set it
MARGIN = 1.5  # thread start-up and a loaded CI machine


class _Good(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        type(self).received.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _Error500(_Good):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Hangs(_Good):
    def do_POST(self) -> None:
        time.sleep(30)  # never answers within any budget


class _Drips(_Good):
    def do_POST(self) -> None:  # a byte every 0.2 s: each read succeeds, the whole never ends in time
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 500:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.2)


@contextmanager
def server(handler: type[BaseHTTPRequestHandler]) -> Iterator[tuple[str, list[bytes]]]:
    received: list[bytes] = []
    cls = type(handler.__name__, (handler,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", received
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def garbage_server() -> Iterator[str]:
    """Accepts, reads, replies something that is not HTTP (http.client raises BadStatusLine)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"\x00\x1b[2Jgarbage, not HTTP\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    finally:
        stop.set()
        listener.close()


def _alert() -> Alert:
    return Alert(
        "nps", "NPS", "净推荐值", "S1", "Store 1", "一店", "month", date(2025, 12, 1),
        "2025-12", "score", "higher_is_better", 0, -40.0, -10.0, 60.0, 25.0, 12, -4.0, "green", "red",
        "robust_z", "warning", "below the expected range -10 to 60", "Customer experience",
    )  # fmt: skip


@contextmanager
def hostile(kind: str) -> Iterator[str]:
    if kind == "garbage":
        with garbage_server() as url:
            yield url
    else:
        handler = {"hangs": _Hangs, "error500": _Error500, "drips": _Drips}[kind]
        with server(handler) as (url, _):
            yield url


@pytest.mark.parametrize("kind", ["garbage", "hangs", "error500", "drips"])
def test_a_hostile_webhook_neither_fails_nor_holds_the_run_and_the_next_run_delivers(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test_outbound")
    with hostile(kind) as url, caplog.at_level(logging.INFO, logger="test_outbound"):
        started = time.monotonic()
        delivery = notify_alerts(
            [_alert()], logger, "run-1", webhook_url=url, data_dir=tmp_path, budget_seconds=BUDGET
        )
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + MARGIN
    assert delivery is not None and not delivery.ok and delivery.pending == 1 and delivery.error
    assert Outbox(tmp_path).count("webhook") == 1
    assert "not delivered" in caplog.text and "kept in the outbox" in caplog.text
    summary = undelivered(tmp_path, OutboundSettings(alert_webhook_url=url))
    assert len(summary) == 1 and "KPI_ALERT_WEBHOOK_URL" in summary[0] and "1 alert payload(s)" in summary[0]

    # The next run: a good receiver gets the kept payload and this run's, oldest first; the outbox empties.
    with server(_Good) as (good, received):
        delivery = notify_alerts(
            [_alert()], logger, "run-2", webhook_url=good, data_dir=tmp_path, budget_seconds=BUDGET
        )
    assert delivery is not None and delivery.ok and delivery.sent == 2
    assert [json.loads(body)["run_id"] for body in received] == ["run-1", "run-2"]
    assert Outbox(tmp_path).count("webhook") == 0
    assert undelivered(tmp_path, OutboundSettings(alert_webhook_url=good)) == []


def test_a_run_without_alerts_still_delivers_what_an_earlier_run_kept(tmp_path: Path) -> None:
    logger = logging.getLogger("test_outbound")
    with server(_Error500) as (bad, _):
        notify_alerts([_alert()], logger, "run-1", webhook_url=bad, data_dir=tmp_path, budget_seconds=BUDGET)
    with server(_Good) as (good, received):
        delivery = notify_alerts(
            [], logger, "run-2", webhook_url=good, data_dir=tmp_path, budget_seconds=BUDGET
        )
    assert delivery is not None and delivery.sent == 1 and len(received) == 1


def test_the_budget_bounds_a_whole_backlog_not_each_request(tmp_path: Path) -> None:
    """Many queued items and an endpoint that hangs: one pass still ends within the budget."""
    outbox = Outbox(tmp_path)
    outbox.add("openlineage", [b"{}"] * 114)
    with server(_Hangs) as (url, _):
        started = time.monotonic()
        delivery = deliver(outbox, Destination("openlineage", "OPENLINEAGE_URL", url), BUDGET)
        elapsed = time.monotonic() - started
    assert elapsed < BUDGET + MARGIN
    assert delivery.sent == 0 and delivery.pending == 114 == outbox.count("openlineage")
    assert "TimeoutError" in (delivery.error or "")


def test_an_unreachable_or_malformed_url_is_reported_not_raised(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nobody listens there now
    outbox = Outbox(tmp_path)
    for url in (f"http://127.0.0.1:{port}/", "http://127.0.0.1:notaport/", "ftp://example.invalid/x"):
        outbox.add("webhook", [b"{}"])
        delivery = deliver(outbox, Destination("webhook", "KPI_ALERT_WEBHOOK_URL", url), BUDGET)
        assert delivery.error and delivery.pending >= 1


# --- item 10: no secrets in logs --------------------------------------------------------------

SECRET_URL = "http://alice:s3cr3tpw@127.0.0.1:{port}/hooks/kpi?token=T0KEN-abc123&x=1"


def test_redact_url_removes_credentials_query_and_webhook_path_tokens() -> None:
    assert redact_url("https://alice:s3cr3tpw@example.com:8443/a/b?token=xyz#frag") == (
        "https://***@example.com:8443/a/b?***#***"
    )
    assert redact_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET") == (
        "https://hooks.slack.com/services/***"
    )
    assert redact_url("https://open.feishu.cn/open-apis/bot/v2/hook/0a1b2c-secret") == (
        "https://open.feishu.cn/open-apis/bot/v2/hook/***"
    )
    assert redact_url("https://oapi.dingtalk.com/robot/send?access_token=SECRET") == (
        "https://oapi.dingtalk.com/robot/send?***"
    )
    assert redact_url("http://127.0.0.1:5000/api/v1/lineage") == "http://127.0.0.1:5000/api/v1/lineage"
    text = "connect to http://u:p4ss@h.example/x?k=v failed; proxy bob:hunter22@proxy.local refused"
    assert "p4ss" not in redact(text) and "k=v" not in redact(text) and "hunter22" not in redact(text)


@pytest.mark.parametrize("kind", ["garbage", "error500", "good"])
def test_no_credentials_or_query_in_logs_or_console(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("test_outbound.secrets")
    logger.addHandler(console := logging.StreamHandler(stream := io.StringIO()))
    printed = io.StringIO()
    try:
        with (
            (
                garbage_server() if kind == "garbage" else _url_of(_Error500 if kind == "error500" else _Good)
            ) as base,
            caplog.at_level(logging.DEBUG),
            redirect_stdout(printed),
            redirect_stderr(printed),
        ):
            port = base.split(":")[2].split("/")[0]
            url = SECRET_URL.format(port=port)
            delivery = notify_alerts(
                [_alert()], logger, "r", webhook_url=url, data_dir=tmp_path, budget_seconds=BUDGET
            )
            lines = undelivered(tmp_path, OutboundSettings(alert_webhook_url=url))
    finally:
        logger.removeHandler(console)
    assert delivery is not None and delivery.ok == (kind == "good")
    everything = (
        caplog.text + stream.getvalue() + printed.getvalue() + "\n".join(lines) + (delivery.error or "")
    )
    assert "127.0.0.1" in everything  # the destination is named ...
    for secret in ("alice", "s3cr3tpw", "T0KEN", "token=", "x=1"):  # ... without its secrets
        assert secret not in everything, (secret, everything)


@contextmanager
def _url_of(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    with server(handler) as (url, _):
        yield url


def test_basic_credentials_of_the_url_are_sent_as_an_authorization_header(tmp_path: Path) -> None:
    seen: list[str | None] = []

    class Auth(_Good):
        def do_POST(self) -> None:
            seen.append(self.headers["Authorization"])
            super().do_POST()

    with server(Auth) as (url, _):
        url = url.replace("http://", "http://alice:s3cr3tpw@")
        outbox = Outbox(tmp_path)
        outbox.add("webhook", [b"{}"])
        assert deliver(outbox, Destination("webhook", "KPI_ALERT_WEBHOOK_URL", url), BUDGET).ok
    assert seen == ["Basic YWxpY2U6czNjcjN0cHc="]


def test_settings_repr_holds_no_url_or_key() -> None:
    outbound = OutboundSettings(
        alert_webhook_url=SECRET_URL, openlineage_url=SECRET_URL, openlineage_api_key="K3Y-xyz"
    )
    assert "s3cr3tpw" not in repr(outbound) and "K3Y-xyz" not in repr(outbound)


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "601"])
def test_a_bad_time_budget_is_a_settings_error_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KPI_OUTBOUND_TIMEOUT_SECONDS", value)
    with pytest.raises(SettingsError, match="KPI_OUTBOUND_TIMEOUT_SECONDS"):
        OutboundSettings.from_env()
    monkeypatch.setenv("KPI_OUTBOUND_TIMEOUT_SECONDS", "2.5")
    assert OutboundSettings.from_env().timeout_seconds == 2.5


def test_kpi_run_prints_a_line_per_failed_destination_and_keeps_its_exit_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The summary names each destination that failed (redacted); the run's outcome stays as it was."""
    from typer.testing import CliRunner

    from dagster_project.cli.app import app
    from dagster_project.run import pipeline
    from dagster_project.run.summary import RunSummary

    (tmp_path / "landing").mkdir()
    outbound = OutboundSettings(
        alert_webhook_url=SECRET_URL.format(port=9), openlineage_url="http://127.0.0.1:9"
    )
    Outbox(tmp_path / "data").add("webhook", [b"{}"])
    Outbox(tmp_path / "data").add("openlineage", [b"{}", b"{}"])
    lines = [*undelivered(tmp_path / "data", outbound), "OpenLineage events not written: \x1b[2J disk full"]

    def fake_run(settings: object, **kwargs: object) -> RunSummary:
        return RunSummary("r" * 32, True, tmp_path / "w", tmp_path / "h", undelivered=lines)

    monkeypatch.setattr(pipeline, "run_pipeline", fake_run)
    result = CliRunner().invoke(
        app, ["run", "--landing-dir", str(tmp_path / "landing"), "--data-dir", str(tmp_path / "data")]
    )
    assert result.exit_code == 0, result.output
    assert (
        "KPI_ALERT_WEBHOOK_URL (http://***@127.0.0.1:9/hooks/kpi?***): 1 alert payload(s) not delivered"
        in (result.output.replace("\n", ""))
    )
    assert "OPENLINEAGE_URL (http://127.0.0.1:9/api/v1/lineage): 2 event(s) not delivered" in result.output
    assert "s3cr3tpw" not in result.output and "\x1b[2J" not in result.output


def test_a_kept_alive_connection_is_reused_and_reopened_when_the_server_closed_it(tmp_path: Path) -> None:
    class KeepAlive(_Good):
        protocol_version = "HTTP/1.1"
        connections: ClassVar[set[int]] = set()

        def do_POST(self) -> None:
            type(self).connections.add(self.client_address[1])
            super().do_POST()
            if len(type(self).received) == 2:
                self.close_connection = True  # the server drops the connection after the 2nd item

    outbox = Outbox(tmp_path)
    outbox.add("openlineage", [b"{}"] * 5)
    with server(KeepAlive) as (url, received):
        delivery = deliver(outbox, Destination("openlineage", "OPENLINEAGE_URL", url), 10)
    assert delivery.ok and delivery.sent == 5 == len(received)
    assert len(KeepAlive.connections) == 2
