"""Text for the terminal and the shell (dagster_project/render/text.py): control characters in data
values are shown escaped, never sent raw; the `kpi lineage` command is shell-quoted wherever it is built."""

from __future__ import annotations

import io
import json
import shlex
from datetime import date, datetime
from pathlib import Path

import pytest
from rich.console import Console

from dagster_project.insights.alerts import Alert
from dagster_project.periods import Period
from dagster_project.render import terminal as report_cli
from dagster_project.render.terminal import scorecard_report
from dagster_project.render.text import json_for_terminal, kpi_lineage_command, printable, printable_tree
from dagster_project.store import KpiRow, ScorecardData

HOSTILE = "Shop\x1b[2J\x1b]0;owned\x07\x00\x9b31m\x7f\rend"


def test_printable_escapes_c0_c1_and_del_but_keeps_newline_and_tab() -> None:
    assert printable("a\tb\nc") == "a\tb\nc"
    shown = printable(HOSTILE)
    assert not any((ord(ch) < 0x20 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F for ch in shown)
    assert shown == "Shop\\x1b[2J\\x1b]0;owned\\x07\\x00\\x9b31m\\x7f\\rend".replace("\\r", "\\x0d")
    tree = printable_tree({"k\x1b": [("\x00", 1)], "p": Path("/d/\x1bx")})
    assert tree == {"k\\x1b": [("\\x00", 1)], "p": Path("/d/\\x1bx")}


def test_json_output_has_no_raw_control_characters() -> None:
    text = json_for_terminal(json.dumps({"name": HOSTILE}, ensure_ascii=False))
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in text)
    assert json.loads(text) == {"name": HOSTILE}  # still the same value for a program reading it


def test_the_scorecard_shows_a_hostile_org_unit_name_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    row = KpiRow(
        "nps", "NPS\x1b[31m", None, "customer", "score", 0, 40.0, 50.0, "red", None, None, None, None
    )
    data = ScorecardData(
        path=Path("/data/published.duckdb"), period=Period("month", date(2025, 12, 1)),
        org_unit_id="S1\x00", org_unit_name=HOSTILE, org_unit_name_zh=None, version=1,
        published_at=datetime(2026, 1, 3), kpis=(row,), scores={"overall": (55.0, 1)}, blocked_at=None,
    )  # fmt: skip
    monkeypatch.setattr(report_cli, "load_scorecard", lambda *args: data)
    out = io.StringIO()
    Console(file=out, width=200, force_terminal=False, color_system=None).print(
        scorecard_report(Path("/data"), "2025-12")
    )
    text = out.getvalue()
    assert "\x1b" not in text and "\x00" not in text and "\x9b" not in text
    assert "Shop\\x1b[2J" in text and "NPS\\x1b[31m" in text


def test_the_lineage_command_is_shell_quoted() -> None:
    org = "ST 1; touch /tmp/pwned $(id) 'x'"
    command = kpi_lineage_command("nps", "2025-12", "month", org)
    assert shlex.split(command) == [
        "kpi",
        "lineage",
        "nps",
        "--period",
        "2025-12",
        "--grain",
        "month",
        "--org",
        org,
    ]
    # plain ids stay as they were
    assert kpi_lineage_command("nps", "2025-Q4", "quarter", "ST-001") == (
        "kpi lineage nps --period 2025-Q4 --grain quarter --org ST-001"
    )
    alert = Alert(
        "nps", "NPS", None, org, "Store", None, "month", date(2025, 12, 1), "2025-12", "score",
        "higher_is_better", 0, -40.0, -10.0, 60.0, 25.0, 12, -4.0, "green", "red", "robust_z", "warning",
        "below", None,
    )  # fmt: skip
    assert alert.as_json_object()["lineage_command"] == command  # the webhook payload's command
