"""Gather one period's published scorecard (every org unit), its trends, scores and alerts, and
render them as one HTML file with everything inlined: no script, style, font or image is fetched.

Numbers and labels are formatted by the helpers `kpi scorecard` uses (dagster_project/render/terminal.py),
so the terminal and the HTML report always show a value the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import jinja2
from markupsafe import Markup, escape

from dagster_project.insights.alerts import Alert, period_alerts
from dagster_project.periods import Period, period_of
from dagster_project.render.terminal import (
    LANGUAGES,
    MISSING,
    TEXTS,
    format_change,
    format_timestamp,
    format_value,
    parse_period,
    perspective_order,
)
from dagster_project.render.text import kpi_lineage_command
from dagster_project.store import ReportError, load_scorecard, open_published

TREND_PERIODS = 12
STATUSES = ("green", "amber", "red", "no_target", "no_data")

# Labels the terminal scorecard does not need; the rest (statuses, perspectives, headings) are shared.
REPORT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "html_lang": "en",
        "report_title": "KPI scorecard",
        "overall_score": "Overall score",
        "kpis_rated": "{count} KPIs rated",
        "status_counts": "Status of the KPIs",
        "alerts": "Early warnings",
        "no_alerts": "No early warnings for this period.",
        "severity": "severity",
        "critical": "critical",
        "warning": "warning",
        "org_unit": "org unit",
        "value": "value",
        "expected_range": "expected range",
        "reason": "reason",
        "owner": "owner",
        "trend": "last {n} {grain}s",
        "by_unit": "Scores by org unit",
        "drill_hint": "Open a KPI to see it for every region and store; open a region for its stores.",
        "expand_all": "Expand all",
        "collapse_all": "Collapse all",
        "lineage": "Where each number comes from",
        "lineage_note": (
            "Each command explains a company value: its formula, inputs, files and checks. For another org "
            "unit add its id with --org (hover over a value to see its command)."
        ),
        "command": "command",
        "footer_version": "Publication version {version}, published {at} UTC",
        "footer_generated": "Report generated {at} UTC from {path}",
        "rule_robust_z": "out of its usual range",
        "rule_green_to_red": "turned from green to red",
        "reason_below": "below the expected range {low} to {high} (median of the last {n} values {median})",
        "reason_above": "above the expected range {low} to {high} (median of the last {n} values {median})",
        "reason_green_to_red": "green in the previous {grain}, red now",
        "low_sample_note": "* fewer responses than the KPI's minimum sample; the value is still rated.",
    },
    "zh": {
        "html_lang": "zh-CN",
        "report_title": "KPI 计分卡",
        "overall_score": "综合得分",
        "kpis_rated": "{count} 项指标参评",
        "status_counts": "指标状态",
        "alerts": "异常预警",
        "no_alerts": "本期无异常预警。",
        "severity": "级别",
        "critical": "严重",
        "warning": "警告",
        "org_unit": "组织单元",
        "value": "数值",
        "expected_range": "预期范围",
        "reason": "原因",
        "owner": "负责人",
        "trend": "近 {n} 期趋势",
        "by_unit": "各组织单元得分",
        "drill_hint": "展开指标可查看各大区与门店的数值；展开大区可查看其门店。",
        "expand_all": "全部展开",
        "collapse_all": "全部收起",
        "lineage": "数据血缘：每个数字从何而来",
        "lineage_note": "每条命令解释一个公司级数值的公式、输入、文件与检查。其他组织单元请加 --org 与其编号（鼠标悬停在数值上可见其命令）。",
        "command": "命令",
        "footer_version": "发布版本：第 {version} 版，发布于 {at} UTC",
        "footer_generated": "报告生成于 {at} UTC，数据来自 {path}",
        "rule_robust_z": "偏离历史区间",
        "rule_green_to_red": "由绿转红",
        "reason_below": "低于预期范围 {low} 至 {high}（近 {n} 期中位数 {median}）",
        "reason_above": "高于预期范围 {low} 至 {high}（近 {n} 期中位数 {median}）",
        "reason_green_to_red": "上一{grain}为达标，本{grain}未达标",
        "low_sample_note": "* 样本量低于该指标的最小样本量，仍参与评级。",
    },
}


@dataclass(frozen=True)
class Cell:
    """One KPI value of one org unit, formatted for the page."""

    org_unit_id: str
    actual: float | None
    actual_text: str
    target_text: str
    status: str
    change_prior_period: str
    change_prior_year: str
    low_sample: bool
    sparkline: Markup
    lineage: str


@dataclass(frozen=True)
class Unit:
    org_unit_id: str
    name: str
    unit_type: str | None
    parent_id: str | None
    children: tuple[str, ...]
    scores: dict[str, tuple[float | None, int | None]]
    status_counts: dict[str, int]


@dataclass(frozen=True)
class KpiView:
    kpi_id: str
    label: str
    perspective: str
    cells: dict[str, Cell]  # org_unit_id → cell


@dataclass(frozen=True)
class ReportData:
    """Everything the page shows, in one language."""

    lang: str
    period: Period
    root: str
    units: dict[str, Unit]
    perspectives: list[tuple[str, str, list[KpiView]]]  # key, title, KPIs
    alerts: list[Alert]
    version: int
    published_at: datetime
    blocked_at: datetime | None
    source: Path
    generated_at: datetime
    trend_labels: list[str] = field(default_factory=list)

    @property
    def has_low_sample(self) -> bool:
        return any(
            cell.low_sample for _, _, kpis in self.perspectives for k in kpis for cell in k.cells.values()
        )

    @property
    def texts(self) -> dict[str, str]:
        return TEXTS[self.lang] | REPORT_TEXTS[self.lang]


def latest_period(data_dir: Path, grain: str = "month") -> Period:
    """The latest published period of a grain (what `make run` reports on)."""
    with open_published(data_dir) as con:
        row = con.execute(
            "select max(period_start) from scorecard where period_grain = ?", [grain]
        ).fetchone()
    if not row or row[0] is None:
        raise ReportError(
            f"No {grain} has been published in {data_dir / 'published.duckdb'}: run the pipeline (`kpi run`) first."
        )
    return period_of(grain, row[0])


def build_report(
    data_dir: Path, period: str | Period | None = None, grain: str | None = None, lang: str = "en"
) -> ReportData:
    """The report's content; raises ReportError on bad input (like `kpi scorecard`)."""
    if lang not in LANGUAGES:
        raise ReportError(f"Unknown language {lang!r}: use --lang en or --lang zh.")
    if period is None:
        chosen = latest_period(data_dir, grain or "month")
    elif isinstance(period, Period):
        chosen = period
    else:
        chosen = parse_period(period, grain)
    company = load_scorecard(data_dir, chosen)  # checks the period exists and finds the root unit
    texts = TEXTS[lang] | REPORT_TEXTS[lang]
    key = [chosen.grain, chosen.start]
    with open_published(data_dir) as con:
        rows = con.execute(
            "select org_unit_id, org_unit_name, org_unit_name_zh, unit_type, parent_org_unit_id, kpi_id, "
            "kpi_label, kpi_label_zh, perspective, unit, decimals, actual, target, status, value_status, "
            "change_vs_prior_period, change_vs_prior_year "
            "from scorecard where period_grain = ? and period_start = ? order by org_unit_id, kpi_id",
            key,
        ).fetchall()
        scores = con.execute(
            "select org_unit_id, perspective, score, kpis_scored from scorecard_scores "
            "where period_grain = ? and period_start = ?",
            key,
        ).fetchall()
        trend_starts = [
            row[0]
            for row in con.execute(
                "select distinct period_start from scorecard where period_grain = ? and period_start <= ? "
                "order by period_start desc limit ?",
                [*key, TREND_PERIODS],
            ).fetchall()
        ][::-1]
        trend_rows = con.execute(
            "select org_unit_id, kpi_id, period_start, actual from scorecard "
            "where period_grain = ? and period_start between ? and ?",
            [chosen.grain, trend_starts[0], chosen.start],
        ).fetchall()
        has_alerts = con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = 'kpi_alerts'"
        ).fetchone()
        alerts = period_alerts(con, "kpi_alerts", *key) if has_alerts and has_alerts[0] else []

    trends: dict[tuple[str, str], dict[date, float | None]] = defaultdict(dict)
    for org_unit_id, kpi_id, start, actual in trend_rows:
        trends[(org_unit_id, kpi_id)][start] = actual
    trend_labels = [period_of(chosen.grain, start).label for start in trend_starts]

    names: dict[str, tuple[str, str | None, str | None]] = {}
    kpis: dict[str, dict] = {}
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    for (
        org_unit_id, name, name_zh, unit_type, parent, kpi_id, label, label_zh, perspective, unit, decimals,
        actual, target, status, value_status, change_pp, change_py,
    ) in rows:  # fmt: skip
        names[org_unit_id] = ((name_zh if lang == "zh" else None) or name or org_unit_id, unit_type, parent)
        status = status or "no_data"
        counts[org_unit_id][status] += 1
        view = kpis.setdefault(
            kpi_id,
            {
                "label": (label_zh if lang == "zh" else None) or label or kpi_id,
                "perspective": perspective,
                "cells": {},
            },
        )
        series = [trends[(org_unit_id, kpi_id)].get(start) for start in trend_starts]
        lineage = kpi_lineage_command(kpi_id, chosen.label, chosen.grain, org_unit_id)
        view["cells"][org_unit_id] = Cell(
            org_unit_id=org_unit_id,
            actual=actual,
            actual_text=format_value(actual, unit, decimals),
            target_text=format_value(target, unit, decimals),
            status=status,
            change_prior_period=format_change(change_pp, unit, decimals),
            change_prior_year=format_change(change_py, unit, decimals),
            low_sample=value_status == "low_sample",
            sparkline=sparkline(
                series, trend_labels, target, status, lambda v, u=unit, d=decimals: format_value(v, u, d)
            ),
            lineage=lineage,
        )

    children: dict[str | None, list[str]] = defaultdict(list)
    for org_unit_id, (_, _, parent) in names.items():
        children[parent].append(org_unit_id)
    unit_scores: dict[str, dict[str, tuple[float | None, int | None]]] = defaultdict(dict)
    for org_unit_id, perspective, score, scored in scores:
        unit_scores[org_unit_id][perspective] = (score, scored)
    units = {
        org_unit_id: Unit(
            org_unit_id=org_unit_id,
            name=name,
            unit_type=unit_type,
            parent_id=parent,
            children=tuple(sorted(children.get(org_unit_id, []), key=lambda c: (names[c][1] or "", c))),
            scores=unit_scores.get(org_unit_id, {}),
            status_counts=counts[org_unit_id],
        )
        for org_unit_id, (name, unit_type, parent) in names.items()
    }

    by_perspective: dict[str, list[KpiView]] = defaultdict(list)
    for kpi_id, view in kpis.items():
        by_perspective[view["perspective"]].append(
            KpiView(kpi_id=kpi_id, label=view["label"], perspective=view["perspective"], cells=view["cells"])
        )
    # Within a perspective, KPIs keep the order of the published table (kpi_id), as `kpi scorecard`.
    perspectives = [
        (p, texts.get(p, p), by_perspective[p]) for p in sorted(by_perspective, key=perspective_order)
    ]
    return ReportData(
        lang=lang,
        period=chosen,
        root=company.org_unit_id,
        units=units,
        perspectives=perspectives,
        alerts=alerts,
        version=company.version,
        published_at=company.published_at,
        blocked_at=company.blocked_at,
        source=company.path,
        generated_at=datetime.now(UTC).replace(tzinfo=None),
        trend_labels=trend_labels,
    )


def sparkline(
    values: list[float | None],
    labels: list[str],
    target: float | None,
    status: str,
    formatter,
    width: int = 120,
    height: int = 30,
) -> Markup:
    """An inline SVG trend line of the values (oldest first), the target dashed, the last point in
    the status colour. Gaps (no value) break the line."""
    present = [v for v in values if v is not None]
    if not present:
        return Markup(f'<svg class="spark" width="{width}" height="{height}" aria-hidden="true"></svg>')
    low, high = min(present), max(present)
    # The target joins the scale only when it is near the values: a far target would flatten the line.
    span = (high - low) or abs(high) or 1.0
    if target is not None and low - span <= target <= high + span:
        low, high = min(low, target), max(high, target)
    else:
        target = None
    if high == low:
        low, high = low - 1, high + 1
    pad = 4
    step = (width - 2 * pad) / max(len(values) - 1, 1)

    def y(value: float) -> float:
        return round(height - pad - (value - low) / (high - low) * (height - 2 * pad), 1)

    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        segments[-1].append(f"{round(pad + i * step, 1)},{y(value)}")
    lines = "".join(f'<polyline class="spark-line" points="{" ".join(s)}"/>' for s in segments if len(s) > 1)
    target_line = (
        f'<line class="spark-target" x1="{pad}" x2="{width - pad}" y1="{y(target)}" y2="{y(target)}"/>'
        if target is not None
        else ""
    )
    # The dot marks this period's value in its status colour; no value now, no dot.
    current = values[-1]
    dot = (
        f'<circle class="spark-dot dot-{escape(status)}" cx="{round(pad + (len(values) - 1) * step, 1)}" '
        f'cy="{y(current)}" r="3"/>'
        if current is not None
        else ""
    )
    title = "; ".join(f"{label}: {formatter(value)}" for label, value in zip(labels, values, strict=False))
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">'
        f"<title>{escape(title)}</title>{target_line}{lines}{dot}</svg>"
    )


def alert_reason(alert: Alert, lang: str) -> str:
    """An alert's reason in the report's language, from its fields (dbt's `reason` is English)."""
    texts = TEXTS[lang] | REPORT_TEXTS[lang]
    if alert.detected_rule == "green_to_red":
        return texts["reason_green_to_red"].format(grain=texts.get(alert.period_grain, alert.period_grain))
    if alert.expected_low is None or alert.expected_high is None or alert.history_median is None:
        return alert.reason
    below = alert.robust_z is not None and alert.robust_z < 0
    return texts["reason_below" if below else "reason_above"].format(
        low=format_value(alert.expected_low, alert.unit or "", alert.decimals),
        high=format_value(alert.expected_high, alert.unit or "", alert.decimals),
        n=alert.history_periods,
        median=format_value(alert.history_median, alert.unit or "", alert.decimals),
    )


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("dagster_project.render", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(format_value=format_value, format_timestamp=format_timestamp, MISSING=MISSING)
    return environment


def render_report(data: ReportData) -> str:
    t = data.texts
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            data=data,
            t=t,
            root=data.units[data.root],
            company_kpis=[(title, kpis) for _, title, kpis in data.perspectives],
            alert_reason=lambda alert: alert_reason(alert, data.lang),
            unit_name=lambda org_unit_id: (
                data.units[org_unit_id].name if org_unit_id in data.units else org_unit_id
            ),
            score_text=lambda score: MISSING if score is None else f"{score:.1f}",
            perspective_keys=[key for key, _, _ in data.perspectives],
            grain_text=t.get(data.period.grain, data.period.grain),
        )
    )


def default_report_path(data_dir: Path, period: Period, lang: str) -> Path:
    return data_dir / "reports" / f"scorecard_{period.label}_{lang}.html"


def write_report(
    data_dir: Path,
    period: str | None = None,
    grain: str | None = None,
    lang: str = "en",
    out: Path | None = None,
) -> Path:
    """Write the report of a period (the latest month when None); returns the file written."""
    data = build_report(data_dir, period, grain, lang)
    path = out or default_report_path(data_dir, data.period, lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_report(data), encoding="utf-8")
    tmp.replace(path)  # a browser reloading the file never sees half of it
    return path


CHROMIUM = Path("/usr/bin/chromium")
# Offline and quiet: no update checks, sync, QUIC or background requests from the browser itself.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def take_screenshot(
    html: Path, png: Path, width: int = 1280, height: int = 900, full_page: bool = False
) -> Path:
    """A PNG of the report as Chromium shows it (needs the `chromium` OS package and playwright)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        raise ReportError(f"{CHROMIUM} not found: install the OS package `chromium` to take screenshots.")
    png.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="kpi-report-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": width, "height": height},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.goto(html.resolve().as_uri())
            page.screenshot(path=str(png), full_page=full_page)
        finally:
            context.close()
    return png
