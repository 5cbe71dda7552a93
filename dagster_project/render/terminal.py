"""`kpi scorecard` and `kpi status`: render what dagster_project/store.py reads from the published
scorecards with Rich.

Bad input (a period that was never published, an unknown org unit, a missing file, a grain that does
not match the period) raises `ReportError` (store.py's), whose message says what was wrong and what
exists; the CLI prints it and exits 2.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from dagster_project.kpis.catalog import PERSPECTIVES
from dagster_project.periods import GRAINS, Period, PeriodLabelError, parse_label, period_of
from dagster_project.render.text import printable, printable_tree
from dagster_project.store import (
    ReportError,
    ScorecardData,
    StatusData,
    load_scorecard,
    load_status,
    timestamp_text,
)

LANGUAGES = ("en", "zh")
MISSING = "—"  # a value that is not there (no data, no target, no prior period)
LOW_SAMPLE_MARK = "*"

STATUS_STYLES = {"green": "green", "amber": "yellow", "red": "red", "no_target": "dim", "no_data": "dim"}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Scorecard · {name} ({org}) · {label} ({grain})",
        "version": "version {version}, published {at} UTC",
        "kpi": "KPI",
        "actual": "actual",
        "target": "target",
        "status": "status",
        "vs_prior_period": "vs prior period",
        "vs_prior_year": "vs prior year",
        "scores": "Scores (0–100)",
        "perspective": "perspective",
        "score": "score",
        "kpis_scored": "KPIs rated",
        "overall": "Overall",
        "overall_line": "Overall score: {score} ({count} KPIs rated)",
        "no_overall": "Overall score: none (no KPI rated green, amber or red)",
        "low_sample": "{mark} low sample: {items}: fewer responses than the KPI's minimum; still rated.",
        "blocked": (
            "! The latest publication attempt for {label} ({at} UTC) was blocked by the quality gate: "
            "version {version} shown here is the last good one. See `kpi status`."
        ),
        "changes": "Changes are in the KPI's unit; pp = percentage points.",
        "month": "month",
        "quarter": "quarter",
        "year": "year",
        "green": "green",
        "amber": "amber",
        "red": "red",
        "no_target": "no target",
        "no_data": "no data",
        "financial": "Financial",
        "customer": "Customer",
        "internal_process": "Internal process",
        "learning_growth": "Learning & growth",
    },
    "zh": {
        "title": "计分卡 · {name}（{org}）· {label}（{grain}）",
        "version": "第 {version} 版，发布于 {at} UTC",
        "kpi": "指标",
        "actual": "实际值",
        "target": "目标值",
        "status": "状态",
        "vs_prior_period": "环比变化",
        "vs_prior_year": "同比变化",
        "scores": "得分（0–100）",
        "perspective": "维度",
        "score": "得分",
        "kpis_scored": "参评指标数",
        "overall": "综合",
        "overall_line": "综合得分：{score}（{count} 项指标参评）",
        "no_overall": "综合得分：无（没有参评的指标）",
        "low_sample": "{mark} 样本量不足：{items}；低于该指标的最小样本量，仍参与评级。",
        "blocked": (
            "! {label} 最近一次发布尝试（{at} UTC）被质量检查拦截：此处显示的是最后一个合格版本"
            "（第 {version} 版）。详见 `kpi status`。"
        ),
        "changes": "变化以指标单位表示；pp = 百分点。",
        "month": "月",
        "quarter": "季度",
        "year": "年",
        "green": "达标",
        "amber": "预警",
        "red": "未达标",
        "no_target": "无目标",
        "no_data": "无数据",
        "financial": "财务",
        "customer": "客户",
        "internal_process": "内部流程",
        "learning_growth": "学习与成长",
    },
}


# --- periods -------------------------------------------------------------------------------------


def parse_period(text: str, grain: str | None = None) -> Period:
    """`2025-10` → month, `2025-Q4` → quarter, `2025` → year; an explicit grain must agree."""
    if grain is not None and grain not in GRAINS:
        raise ReportError(f"--grain {grain!r} is not a grain: use {', '.join(GRAINS)}.")
    try:
        period = parse_label(text)
    except PeriodLabelError as error:
        raise ReportError(f"--period {error}.") from None
    if grain is not None and grain != period.grain:
        raise ReportError(
            f"--period {text} is a {period.grain} but --grain is {grain}: drop --grain (it is inferred "
            f"from the period) or give a {grain}, e.g. --period {period_of(grain, period.start).label}."
        )
    return period


# --- formatting ----------------------------------------------------------------------------------


def _number(value: float | None, decimals: int | None) -> tuple[float, int] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    places = 2 if decimals is None else max(0, int(decimals))
    rounded = round(float(value), places)
    return (0.0 if rounded == 0 else rounded), places  # no "-0.0"


def format_value(value: float | None, unit: str, decimals: int | None) -> str:
    """A KPI value with its decimals and thousands separators; percentages end with %."""
    number = _number(value, decimals)
    if number is None:
        return MISSING
    text = f"{number[0]:,.{number[1]}f}"
    return f"{text}%" if unit == "percent" else text


def format_change(value: float | None, unit: str, decimals: int | None) -> str:
    """A change with its sign (none when it rounds to 0); percentage changes are in points (pp)."""
    number = _number(value, decimals)
    if number is None:
        return MISSING
    text = f"{number[0]:+,.{number[1]}f}" if number[0] else f"{number[0]:,.{number[1]}f}"
    return f"{text} pp" if unit == "percent" else text


def status_text(status: str | None, lang: str) -> Text:
    key = status or "no_data"
    return Text(TEXTS[lang].get(key, key), style=STATUS_STYLES.get(key, ""))


def format_timestamp(moment: datetime | None) -> str:
    return timestamp_text(moment) if moment else MISSING


def perspective_order(perspective: str) -> tuple[int, str]:
    return (
        PERSPECTIVES.index(perspective) if perspective in PERSPECTIVES else len(PERSPECTIVES),
        perspective,
    )


# --- kpi scorecard -------------------------------------------------------------------------------


def scorecard_report(
    data_dir: Path, period: str, grain: str | None = None, org: str | None = None, lang: str = "en"
) -> RenderableType:
    """What `kpi scorecard` prints; raises ReportError on bad input."""
    if lang not in LANGUAGES:
        raise ReportError(f"Unknown language {lang!r}: use --lang en or --lang zh.")
    return render_scorecard(printable_tree(load_scorecard(data_dir, parse_period(period, grain), org)), lang)


def render_scorecard(data: ScorecardData, lang: str = "en") -> RenderableType:
    t = TEXTS[lang]
    name = (data.org_unit_name_zh if lang == "zh" else None) or data.org_unit_name or data.org_unit_id
    parts: list[RenderableType] = [
        Text(
            t["title"].format(
                name=name, org=data.org_unit_id, label=data.period.label, grain=t[data.period.grain]
            ),
            style="bold",
        ),
        Text(
            t["version"].format(version=data.version, at=format_timestamp(data.published_at))
            + f" · {data.path}",
            style="dim",
        ),
    ]
    if data.blocked_at is not None:
        note = t["blocked"].format(
            label=data.period.label, at=format_timestamp(data.blocked_at), version=data.version
        )
        parts.append(Text(note, style="yellow"))

    header = (t["kpi"], t["actual"], t["target"], t["status"], t["vs_prior_period"], t["vs_prior_year"])
    cells: dict[str, list[tuple[Text, ...]]] = {}
    low_sample: list[str] = []
    for kpi in data.kpis:
        label = (kpi.label_zh if lang == "zh" else None) or kpi.label or kpi.kpi_id
        actual = Text(format_value(kpi.actual, kpi.unit, kpi.decimals))
        if kpi.value_status == "low_sample":
            actual.append(f" {LOW_SAMPLE_MARK}", style="yellow")
            low_sample.append(f"{label} (n={kpi.sample_size})" if kpi.sample_size is not None else label)
        row = (
            Text(label),
            actual,
            Text(format_value(kpi.target, kpi.unit, kpi.decimals)),
            status_text(kpi.status, lang),
            Text(format_change(kpi.change_vs_prior_period, kpi.unit, kpi.decimals)),
            Text(format_change(kpi.change_vs_prior_year, kpi.unit, kpi.decimals)),
        )
        cells.setdefault(kpi.perspective, []).append(row)
    sections = [(t.get(p, p), cells[p]) for p in sorted(cells, key=perspective_order)]
    parts.append(_PerspectiveTables(header, sections))
    if low_sample:
        parts.append(Text(t["low_sample"].format(mark=LOW_SAMPLE_MARK, items=", ".join(low_sample))))
    parts.append(Text(t["changes"], style="dim"))
    parts.append(_scores_table(data, lang))
    overall = data.scores.get("overall")
    if overall and overall[0] is not None:
        line = t["overall_line"].format(score=f"{overall[0]:.1f}", count=overall[1])
    else:
        line = t["no_overall"]
    parts.append(Text(line, style="bold"))
    return Group(*parts)


@dataclass(frozen=True)
class _PerspectiveTables:
    """One table per perspective, whose columns line up down the page when the console is wide enough.

    On a narrow console the widths are left to Rich, so the KPI column wraps instead of the numbers
    being cut.
    """

    header: tuple[str, ...]
    sections: list[tuple[str, list[tuple[Text, ...]]]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = [row for _, section in self.sections for row in section]
        widths = [
            max([Text(h).cell_len] + [row[i].cell_len for row in rows]) for i, h in enumerate(self.header)
        ]
        # SIMPLE_HEAD: an edge space each side, one space between columns, one of padding each side of a cell
        aligned = sum(widths) + 3 * len(widths) + 1 <= options.max_width
        header = list(self.header)
        if not aligned:  # narrow: the change headings on two lines, the KPI column wraps but stays legible
            header[4:] = ["\n".join(h.rsplit(" ", 1)) for h in header[4:]]
        for title, section in self.sections:
            table = Table(title=Text(title, style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
            for i, heading in enumerate(header):
                table.add_column(
                    heading,
                    justify="left" if i in (0, 3) else "right",
                    no_wrap=i != 0,
                    overflow="fold" if i == 0 else "ellipsis",  # Chinese labels have no spaces to wrap at
                    min_width=widths[i] if aligned else min(widths[i], 12) if i == 0 else None,
                )
            for row in section:
                table.add_row(*row)
            yield table


def _scores_table(data: ScorecardData, lang: str) -> Table:
    t = TEXTS[lang]
    table = Table(title=Text(t["scores"], style="bold"), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column(t["perspective"])
    table.add_column(t["score"], justify="right", no_wrap=True)
    table.add_column(t["kpis_scored"], justify="right", no_wrap=True)
    perspectives = sorted((p for p in data.scores if p != "overall"), key=perspective_order)
    for perspective in [*perspectives, "overall"]:
        if perspective not in data.scores:
            continue
        score, scored = data.scores[perspective]
        style = "bold" if perspective == "overall" else ""
        table.add_row(
            Text(t.get(perspective, perspective), style=style),
            Text(MISSING if score is None else f"{score:.1f}", style=style),
            Text(MISSING if scored is None else str(scored), style=style),
        )
    return table


# --- kpi status ----------------------------------------------------------------------------------


def status_report(data_dir: Path, limit: int = 10) -> RenderableType:
    """What `kpi status` prints; raises ReportError when there is no published file."""
    return render_status(printable_tree(load_status(data_dir, limit)))


def describe_failing_check(check: dict) -> str:
    """One failed critical check of `publication_attempts.failing_checks`, in words."""
    grain, start = check.get("period_grain"), check.get("period_start")
    if grain and start:
        try:
            scope = f"period {period_of(grain, date.fromisoformat(str(start)[:10])).label} ({grain})"
        except ValueError:
            scope = f"period {start} ({grain})"
    elif grain:
        scope = f"every {grain}"
    else:
        scope = "every period"
    text = f"{check.get('suite')} / {check.get('expectation')}"
    if check.get("table_name"):
        text += f" on {check['table_name']}"
    text += f" — {scope}"
    if check.get("observed_value"):
        text += f"; observed {check['observed_value']}"
    if check.get("details"):
        text += f"; {check['details']}"
    if check.get("failing_rows_sample"):
        sample = str(check["failing_rows_sample"])
        text += f"; failing rows e.g. {sample if len(sample) <= 200 else sample[:199] + '…'}"
    return text


def _failing_checks(raw: str | None) -> list[str]:
    if not raw:
        return []
    try:
        checks = json.loads(raw)
    except ValueError:
        return [raw]
    if not isinstance(checks, list):
        return [raw]
    return [describe_failing_check(c) if isinstance(c, dict) else str(c) for c in checks]


def render_status(data: StatusData) -> RenderableType:
    parts: list[RenderableType] = [Text(f"Publication log of {data.path}", style="bold")]
    if data.publications:
        table = Table(
            title=Text(
                f"Latest {len(data.publications)} of {data.publication_count} publications", style="bold"
            ),
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for name in ("period", "grain", "version", "reason", "published (UTC)", "rows", "checks ok/warned"):
            right = name in ("version", "rows", "checks ok/warned")
            table.add_column(name, justify="right" if right else "left", no_wrap=name != "reason")
        for label, grain, version, reason, at, rows, passed, warned, _run in data.publications:
            table.add_row(
                Text(label),
                Text(grain),
                Text(str(version)),
                Text(reason or MISSING),
                Text(format_timestamp(at)),
                Text(f"{rows:,}" if rows is not None else MISSING),
                Text(f"{passed}/{warned}", style="yellow" if warned else ""),
            )
        parts.append(table)
    else:
        parts.append(Text("No period has been published yet."))

    if data.blocked_attempts:
        parts.append(
            Text(
                f"Latest {len(data.blocked_attempts)} of {data.blocked_attempt_count} blocked attempts",
                style="bold",
            )
        )
        for label, grain, at, version, reason, failing, run_id in data.blocked_attempts:
            kept = f"version {version} stays published" if version is not None else "never published"
            heading = Text("✗ ", style="red")
            heading.append(f"{label} ({grain}) blocked at {format_timestamp(at)} UTC, run {run_id}: {kept}")
            details = Text(f"reason: {reason}")
            for line in _failing_checks(failing):
                details.append(f"\n• {printable(line)}")  # parsed from JSON: may hold raw controls again
            parts.extend([heading, Padding(details, (0, 0, 0, 2))])
    else:
        parts.append(Text("No blocked attempts.", style="green"))

    grains = ", ".join(
        f"{data.periods_by_grain[g]} {g}{'s' if data.periods_by_grain[g] != 1 else ''}"
        for g in GRAINS
        if g in data.periods_by_grain
    )
    total = sum(data.periods_by_grain.values())
    summary = Text(
        f"{total} period{'s' if total != 1 else ''} published" + (f" ({grains})" if grains else "")
    )
    summary.append(f"; latest version {format_timestamp(data.latest_published_at)} UTC" if total else "")
    summary.append("; blocked now: ")
    if data.blocked_now:
        summary.append(
            ", ".join(
                f"{label} ({'v' + str(version) + ' stays' if version is not None else 'never published'})"
                for label, version in data.blocked_now
            ),
            style="red",
        )
    else:
        summary.append("none", style="green")
    parts.append(summary)
    return Group(*parts)
