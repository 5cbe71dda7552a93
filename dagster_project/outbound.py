"""Every outbound HTTP call of the pipeline: the alerts webhook and the OpenLineage endpoint (docs/operations.md).

Three rules, in one place:

- **Bounded**: each delivery pass to one destination takes at most `budget_seconds`
  (`KPI_OUTBOUND_TIMEOUT_SECONDS`), connection, request, reply and every queued item included. A
  request runs in a helper thread; when the budget is spent its socket is shut, so a server that
  hangs or drips a byte at a time cannot hold a run.
- **Never fatal, never lost**: what is to be sent is first written to the outbox
  (`$KPI_DATA_DIR/outbox.sqlite`), then posted oldest first; an item leaves the outbox only after a
  2xx reply. Any failure (refused, timeout, garbage reply, HTTP 500, a redirect) stops that
  destination for this pass, is recorded on the item and reported; the next pass (the next run)
  retries it. Delivery is at least once: a receiver may see an item twice.
- **No secrets in logs**: `redact_url` / `redact` remove credentials (`user:pass@`), the query
  string, the fragment and the token part of the path of known webhook shapes (Slack, Discord,
  Feishu/Lark, DingTalk, WeCom, Microsoft Teams) from every URL that is logged or reported.
"""

from __future__ import annotations

import base64
import http.client
import re
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import closing, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from dagster_project.settings import OutboundSettings

OUTBOX_FILE = "outbox.sqlite"
REDACTED = "***"
MAX_REPLY_BYTES = 64 * 1024  # what is read of a reply; a longer one is cut and its connection closed

# (host suffix, path prefix): the path after the prefix is a secret token in these webhook shapes.
_TOKEN_PATHS: tuple[tuple[str, str], ...] = (
    ("hooks.slack.com", "/services/"),
    ("hooks.slack.com", "/workflows/"),
    ("discord.com", "/api/webhooks/"),
    ("discordapp.com", "/api/webhooks/"),
    ("open.feishu.cn", "/open-apis/bot/v2/hook/"),
    ("open.larksuite.com", "/open-apis/bot/v2/hook/"),
    ("webhook.office.com", "/webhookb2/"),
    ("logic.azure.com", "/workflows/"),
)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_USERINFO_IN_TEXT = re.compile(r"(?<![\w/])[^\s/@:'\"<>`]+:[^\s/@'\"<>`]+@(?=[\w\[])")


def redact_url(url: str) -> str:
    """`url` without what may be a secret: user and password, query, fragment, webhook path tokens."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparsable URL>"
    netloc = ("***@" if "@" in parts.netloc else "") + (f"[{host}]" if ":" in host else host) + port
    path = parts.path
    for suffix, prefix in _TOKEN_PATHS:
        if (host == suffix or host.endswith("." + suffix)) and path.startswith(prefix) and path != prefix:
            path = prefix + REDACTED
            break
    return urlunsplit(
        (parts.scheme, netloc, path, REDACTED if parts.query else "", REDACTED if parts.fragment else "")
    )


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` (an error message, a log line) with every URL in it redacted, every bare `user:pass@`
    removed and every string of `secrets` (e.g. an API key) replaced."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _USERINFO_IN_TEXT.sub("***@", text)


@dataclass(frozen=True)
class Destination:
    """Where one kind of item is posted. `setting` names the variable that configures it (for messages)."""

    name: str  # the outbox's key: webhook | openlineage
    setting: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    noun: str = "item"  # what one item is, in messages: payload, event

    @property
    def shown(self) -> str:
        """How the destination appears in logs and summaries: `SETTING (redacted URL)`."""
        return f"{self.setting} ({redact_url(self.url)})"

    def secrets(self) -> list[str]:
        """The parts of the configuration that must never be logged."""
        parts = urlsplit(self.url)
        found = [self.url, parts.query, parts.fragment]
        if "@" in parts.netloc:
            userinfo = parts.netloc.rsplit("@", 1)[0]
            found += [userinfo, unquote(userinfo), *unquote(userinfo).split(":", 1)[1:]]
        found += [v.split(" ", 1)[-1] for k, v in self.headers.items() if k.lower() == "authorization"]
        return [s for s in found if s]


@dataclass(frozen=True)
class Delivery:
    """The outcome of one delivery pass to one destination."""

    destination: Destination
    sent: int
    pending: int  # still in the outbox after this pass
    error: str | None  # the failure that stopped the pass (redacted), None when everything went

    @property
    def ok(self) -> bool:
        return self.error is None and self.pending == 0

    def describe(self) -> str:
        if self.ok:
            return f"{self.sent} {self.destination.noun}(s) posted to {self.destination.shown}"
        return (
            f"{self.destination.shown}: {self.pending} {self.destination.noun}(s) not delivered "
            f"({self.sent} sent), kept in the outbox for the next run; {self.error}"
        )


def webhook_destination(outbound: OutboundSettings | None) -> Destination | None:
    """The alerts webhook (KPI_ALERT_WEBHOOK_URL); None when it is not set."""
    if outbound is None or not outbound.alert_webhook_url:
        return None
    return Destination("webhook", "KPI_ALERT_WEBHOOK_URL", outbound.alert_webhook_url, noun="alert payload")


def lineage_destination(outbound: OutboundSettings | None) -> Destination | None:
    """The OpenLineage endpoint: OPENLINEAGE_URL + OPENLINEAGE_ENDPOINT, bearer OPENLINEAGE_API_KEY."""
    if outbound is None or not outbound.openlineage_url:
        return None
    url = outbound.openlineage_url.rstrip("/") + "/" + outbound.openlineage_endpoint.lstrip("/")
    key = outbound.openlineage_api_key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return Destination("openlineage", "OPENLINEAGE_URL", url, headers=headers, noun="event")


def undelivered(data_dir: Path, outbound: OutboundSettings) -> list[str]:
    """One line per destination with items waiting in the outbox (for the run summary); [] when
    everything was delivered. Never raises: a summary line must not fail the summary."""
    outbox = Outbox(data_dir)
    configured = {d.name: d for d in (webhook_destination(outbound), lineage_destination(outbound)) if d}
    settings = {"webhook": "KPI_ALERT_WEBHOOK_URL", "openlineage": "OPENLINEAGE_URL"}
    lines = []
    try:
        for name, count in outbox.counts().items():
            destination = configured.get(name)
            if destination is None:
                setting = settings.get(name, name)
                lines.append(f"{count} {name} item(s) wait in {outbox.path}, but {setting} is not set")
                continue
            last = outbox.last_error(name) or "not attempted yet"
            lines.append(
                f"{destination.shown}: {count} {destination.noun}(s) not delivered, kept in {outbox.path} "
                f"for the next run; last error: {last}"
            )
    except (sqlite3.Error, OSError) as error:
        lines.append(f"the outbox {outbox.path} cannot be read: {error}")
    return lines


class Outbox:
    """The items not yet delivered, per destination, in `$KPI_DATA_DIR/outbox.sqlite` (SQLite:
    durable, safe across processes; the URL is not stored, so a corrected URL applies to the backlog)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / OUTBOX_FILE

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute(
            "create table if not exists outbox (id integer primary key autoincrement, "
            "destination text not null, body blob not null, created_at text not null, "
            "attempts integer not null default 0, last_attempt_at text, last_error text)"
        )
        return con

    def add(self, destination: str, bodies: Iterable[bytes]) -> None:
        now = _now()
        with closing(self._connect()) as con:
            con.execute("begin immediate")
            con.executemany(
                "insert into outbox (destination, body, created_at) values (?, ?, ?)",
                [(destination, body, now) for body in bodies],
            )
            con.execute("commit")

    def pending(self, destination: str) -> list[tuple[int, bytes]]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as con:
            return con.execute(
                "select id, body from outbox where destination = ? order by id", [destination]
            ).fetchall()

    def count(self, destination: str) -> int:
        if not self.path.exists():
            return 0
        with closing(self._connect()) as con:
            return con.execute("select count(*) from outbox where destination = ?", [destination]).fetchone()[
                0
            ]

    def counts(self) -> dict[str, int]:
        """Items waiting, per destination."""
        if not self.path.exists():
            return {}
        with closing(self._connect()) as con:
            return dict(
                con.execute(
                    "select destination, count(*) from outbox group by destination order by 1"
                ).fetchall()
            )

    def last_error(self, destination: str) -> str | None:
        if not self.path.exists():
            return None
        with closing(self._connect()) as con:
            row = con.execute(
                "select last_error from outbox where destination = ? and last_error is not null "
                "order by last_attempt_at desc limit 1",
                [destination],
            ).fetchone()
        return row[0] if row else None

    def sent(self, item_id: int) -> None:
        with closing(self._connect()) as con:
            con.execute("delete from outbox where id = ?", [item_id])

    def failed(self, item_id: int, error: str) -> None:
        with closing(self._connect()) as con:
            con.execute(
                "update outbox set attempts = attempts + 1, last_attempt_at = ?, last_error = ? where id = ?",
                [_now(), error, item_id],
            )


def deliver(outbox: Outbox, destination: Destination, budget_seconds: float) -> Delivery:
    """Post the destination's queued items, oldest first, within `budget_seconds` in all. Never raises
    for a network or reply problem; the first one stops the pass and stays in the outbox."""
    deadline = time.monotonic() + budget_seconds
    items = outbox.pending(destination.name)
    sent = 0
    error: str | None = None
    with closing(_Connection(destination)) as connection:
        for item_id, body in items:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                error = f"the time budget of {budget_seconds:g} s (KPI_OUTBOUND_TIMEOUT_SECONDS) was used up"
                break
            try:
                status = connection.post(body, remaining)
            except Exception as failure:
                error = _describe(failure)
            else:
                if 200 <= status < 300:
                    outbox.sent(item_id)
                    sent += 1
                    continue
                error = f"HTTP {status} (only a 2xx reply counts as delivered)"
            error = redact(error, destination.secrets())
            outbox.failed(item_id, error)
            break
    return Delivery(destination, sent, len(items) - sent, error)


class _Connection:
    """One HTTP(S) connection, reused across the items of a pass while the server keeps it open."""

    def __init__(self, destination: Destination) -> None:
        parts = urlsplit(destination.url)
        self.invalid: str | None = None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.invalid = f"not an http(s) URL: {redact_url(destination.url)}"
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        try:
            self.port = parts.port
        except ValueError:
            self.port, self.invalid = None, f"the port of {redact_url(destination.url)} is not a number"
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = {"Content-Type": "application/json; charset=utf-8", **destination.headers}
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes, timeout: float) -> int:
        """POST `body`; the status. A kept-alive connection the server closed meanwhile is reopened
        once; the whole, retry included, ends within `timeout`."""
        deadline = time.monotonic() + timeout
        reused = self.conn is not None
        try:
            return self._post_once(body, timeout)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            remaining = deadline - time.monotonic()
            if not reused or remaining <= 0.05:
                raise
            return self._post_once(body, remaining)

    def _post_once(self, body: bytes, timeout: float) -> int:
        if self.invalid:
            raise ValueError(self.invalid)
        outcome: dict[str, object] = {}

        def work() -> None:
            try:
                if self.conn is None:
                    if self.https:
                        self.conn = http.client.HTTPSConnection(
                            self.host, self.port, timeout=timeout, context=ssl.create_default_context()
                        )
                    else:
                        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
                elif self.conn.sock is not None:
                    self.conn.sock.settimeout(timeout)
                self.conn.request("POST", self.target, body=body, headers=self.headers)
                response = self.conn.getresponse()
                response.read(MAX_REPLY_BYTES)
                outcome["status"] = response.status
                if response.will_close or not response.isclosed():
                    self.close()
            except BaseException as error:
                outcome["error"] = error

        worker = threading.Thread(target=work, name="kpi-outbound", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():  # the server hangs or drips: cut the socket so the thread ends too
            self.close()
            worker.join(1.0)
            raise TimeoutError(f"no complete reply within {timeout:.1f} s")
        if "error" in outcome:
            self.close()
            raise outcome["error"]  # type: ignore[misc]
        return int(outcome["status"])  # type: ignore[call-overload]

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        sock = conn.sock
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        conn.close()


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    if isinstance(error, http.client.BadStatusLine):
        text = f"not an HTTP reply: {text[:80]!r}" if text else "not an HTTP reply"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
