"""`kpi scorecard` and `kpi status`: read the published scorecards and render them with Rich.

Everything here reads `<data_dir>/published.duckdb` (docs/bi_tables.md) and nothing else: the file is
opened read-only, the few rows a report needs are fetched, and the connection is closed before
anything is rendered (the publisher replaces the file atomically, so a reader never blocks it).

Bad input (a period that was never published, an unknown org unit, a missing file, a grain that does
not match the period) raises `ReportError`, whose message says what was wrong and what exists; the
CLI prints it and exits 2.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from dagster_project.kpis.catalog import PERSPECTIVES
from dagster_project.publish.files import published_path
from dagster_project.publish.gate_results import GRAINS
from dagster_project.render.text import printable, printable_tree

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


class ReportError(Exception):
    """Bad input for a report: the message says what was wrong and what exists."""


# --- periods -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    grain: str  # month | quarter | year
    start: date
    label: str  # as published: 2025-10, 2025-Q4, 2025


_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_QUARTER = re.compile(r"(\d{4})-?[Qq]([1-4])")
_YEAR = re.compile(r"(\d{4})")
_EXAMPLES = "a month (2025-10), a quarter (2025-Q4) or a year (2025)"


def period_of(grain: str, start: date) -> Period:
    """The period of `grain` that contains `start`, labelled as the publisher labels it."""
    if grain == "month":
        return Period("month", date(start.year, start.month, 1), f"{start.year}-{start.month:02d}")
    if grain == "quarter":
        quarter = (start.month - 1) // 3 + 1
        return Period("quarter", date(start.year, 3 * quarter - 2, 1), f"{start.year}-Q{quarter}")
    if grain == "year":
        return Period("year", date(start.year, 1, 1), f"{start.year}")
    raise ValueError(f"unknown grain {grain!r}")


def parse_period(text: str, grain: str | None = None) -> Period:
    """`2025-10` → month, `2025-Q4` → quarter, `2025` → year; an explicit grain must agree."""
    value = text.strip()
    if grain is not None and grain not in GRAINS:
        raise ReportError(f"--grain {grain!r} is not a grain: use {', '.join(GRAINS)}.")
    if match := _MONTH.fullmatch(value):
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise ReportError(f"--period {text!r}: month {month} does not exist; write {_EXAMPLES}.")
        period = period_of("month", date(year, month, 1))
    elif match := _QUARTER.fullmatch(value):
        period = period_of("quarter", date(int(match[1]), 3 * int(match[2]) - 2, 1))
    elif match := _YEAR.fullmatch(value):
        period = period_of("year", date(int(match[1]), 1, 1))
    else:
        raise ReportError(f"--period {text!r} is not a period: write {_EXAMPLES}.")
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
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else MISSING


def perspective_order(perspective: str) -> tuple[int, str]:
    return (
        PERSPECTIVES.index(perspective) if perspective in PERSPECTIVES else len(PERSPECTIVES),
        perspective,
    )


def _span(labels: Sequence[str], noun: str) -> str:
    if not labels:
        return "none"
    if len(labels) <= 4:
        return ", ".join(labels)
    return f"{labels[0]} … {labels[-1]} ({len(labels)} {noun})"


# --- the published file --------------------------------------------------------------------------


@contextmanager
def open_published(data_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the published file, closed on leaving the block."""
    path = published_path(data_dir)
    if not path.is_file():
        raise ReportError(
            f"No published scorecards: {path} does not exist. Run the pipeline (`kpi run`) so that it "
            "publishes, or point --data-dir (or KPI_DATA_DIR) at the data folder that holds published.duckdb."
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise ReportError(f"Cannot open {path} read-only: {error}") from None
    try:
        yield con
    except (duckdb.CatalogException, duckdb.BinderException) as error:  # tables or columns missing
        raise ReportError(
            f"{path} is not a published scorecard file as docs/bi_tables.md describes: {error}"
        ) from None
    finally:
        con.close()


@dataclass(frozen=True)
class KpiRow:
    kpi_id: str
    label: str
    label_zh: str | None
    perspective: str
    unit: str
    decimals: int | None
    actual: float | None
    target: float | None
    status: str | None
    value_status: str | None
    sample_size: int | None
    change_vs_prior_period: float | None
    change_vs_prior_year: float | None


@dataclass(frozen=True)
class ScorecardData:
    path: Path
    period: Period
    org_unit_id: str
    org_unit_name: str
    org_unit_name_zh: str | None
    version: int
    published_at: datetime
    kpis: tuple[KpiRow, ...]
    scores: dict[str, tuple[float | None, int | None]]  # perspective (or 'overall') → score, kpis_scored
    blocked_at: datetime | None  # the latest attempt for the period was blocked at this time


def load_scorecard(data_dir: Path, period: Period, org: str | None = None) -> ScorecardData:
    """The published rows of one period and org unit (the root unit when `org` is None)."""
    path = published_path(data_dir)
    key = [period.grain, period.start]
    with open_published(data_dir) as con:
        units = con.execute(
            "select org_unit_id, any_value(org_unit_name), any_value(org_unit_name_zh), "
            "bool_or(parent_org_unit_id is null) from scorecard "
            "where period_grain = ? and period_start = ? group by org_unit_id order by org_unit_id",
            key,
        ).fetchall()
        if not units:
            raise ReportError(_not_published_message(con, path, period))
        if org is None:
            roots = [unit for unit in units if unit[3]]
            if not roots:
                raise ReportError(
                    f"The scorecard of {period.label} in {path} has no root org unit (one without a parent): "
                    f"name one with --org ({_span([u[0] for u in units], 'org units')})."
                )
            unit = roots[0]
        else:
            found = [u for u in units if u[0] == org] or [u for u in units if u[0].lower() == org.lower()]
            if not found:
                raise ReportError(_unknown_org_message(path, period, org, [u[0] for u in units]))
            unit = found[0]
        rows = con.execute(
            "select kpi_id, kpi_label, kpi_label_zh, perspective, unit, decimals, actual, target, status, "
            "value_status, sample_size, change_vs_prior_period, change_vs_prior_year, "
            "publication_version, published_at "
            "from scorecard where period_grain = ? and period_start = ? and org_unit_id = ? order by kpi_id",
            [*key, unit[0]],
        ).fetchall()
        scores = con.execute(
            "select perspective, score, kpis_scored from scorecard_scores "
            "where period_grain = ? and period_start = ? and org_unit_id = ?",
            [*key, unit[0]],
        ).fetchall()
        latest = con.execute(
            "select outcome, attempted_at from publication_attempts "
            "where period_grain = ? and period_start = ? order by attempt_id desc limit 1",
            key,
        ).fetchone()
    return ScorecardData(
        path=path,
        period=period,
        org_unit_id=unit[0],
        org_unit_name=unit[1],
        org_unit_name_zh=unit[2],
        version=max(row[13] for row in rows),
        published_at=max(row[14] for row in rows),
        kpis=tuple(KpiRow(*row[:13]) for row in rows),
        scores={perspective: (score, scored) for perspective, score, scored in scores},
        blocked_at=latest[1] if latest and latest[0] == "blocked" else None,
    )


def _not_published_message(con: duckdb.DuckDBPyConnection, path: Path, period: Period) -> str:
    labels = [
        row[0]
        for row in con.execute(
            "select period_label from scorecard where period_grain = ? "
            "group by period_label, period_start order by period_start",
            [period.grain],
        ).fetchall()
    ]
    message = f"{period.label} ({period.grain}) has not been published in {path}. "
    if labels:
        message += f"Published {period.grain}s: {_span(labels, period.grain + 's')}."
    else:
        counts = con.execute(
            "select period_grain, count(distinct period_start) from scorecard group by 1 order by 1"
        ).fetchall()
        published = ", ".join(f"{n} {grain}(s)" for grain, n in counts) or "nothing"
        message += f"No {period.grain} has been published (published: {published})."
    attempt = con.execute(
        "select outcome, attempted_at, reason from publication_attempts "
        "where period_grain = ? and period_start = ? order by attempt_id desc limit 1",
        [period.grain, period.start],
    ).fetchone()
    if attempt and attempt[0] == "blocked":
        message += (
            f" Its last attempt ({format_timestamp(attempt[1])} UTC) was {attempt[2]} (see `kpi status`)."
        )
    return message


def _unknown_org_message(path: Path, period: Period, org: str, known: list[str]) -> str:
    close = difflib.get_close_matches(org, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    shown = ", ".join(known[:40]) + (f", … ({len(known)} in all)" if len(known) > 40 else "")
    return f"Org unit {org!r} is not in the published scorecard of {period.label} in {path}.{hint} Org units: {shown}."


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


@dataclass(frozen=True)
class StatusData:
    path: Path
    limit: int
    publications: list[tuple]  # period_label, grain, version, reason, published_at, rows, passed, warned, run
    publication_count: int
    blocked_attempts: list[tuple]  # label, grain, attempted_at, version, reason, failing_checks, run_id
    blocked_attempt_count: int
    periods_by_grain: dict[str, int]
    latest_published_at: datetime | None
    blocked_now: list[tuple[str, int | None]]  # label, version that stays (None: never published)


def load_status(data_dir: Path, limit: int = 10) -> StatusData:
    with open_published(data_dir) as con:
        publications = con.execute(
            "select period_label, period_grain, version, reason, published_at, row_count, checks_passed, "
            "checks_warned, run_id from publications "
            "order by published_at desc, period_grain, period_start desc limit ?",
            [limit],
        ).fetchall()
        publication_count = con.execute("select count(*) from publications").fetchone()[0]  # type: ignore[index]
        blocked = con.execute(
            "select period_label, period_grain, attempted_at, version, reason, failing_checks, run_id "
            "from publication_attempts where outcome = 'blocked' order by attempt_id desc limit ?",
            [limit],
        ).fetchall()
        blocked_count = con.execute(
            "select count(*) from publication_attempts where outcome = 'blocked'"
        ).fetchone()[0]  # type: ignore[index]
        by_grain = con.execute(
            "select period_grain, count(distinct period_start), max(published_at) from publications group by 1"
        ).fetchall()
        # A period is blocked now when its most recent attempt was blocked.
        blocked_now = con.execute(
            "select period_label, version from ("
            "  select period_grain, period_start, period_label, outcome, version, row_number() over ("
            "      partition by period_grain, period_start order by attempt_id desc) as recency"
            "  from publication_attempts"
            ") where recency = 1 and outcome = 'blocked' order by period_grain, period_start"
        ).fetchall()
    return StatusData(
        path=published_path(data_dir),
        limit=limit,
        publications=publications,
        publication_count=publication_count,
        blocked_attempts=blocked,
        blocked_attempt_count=blocked_count,
        periods_by_grain={grain: n for grain, n, _ in by_grain},
        latest_published_at=max((at for _, _, at in by_grain), default=None),
        blocked_now=[(label, version) for label, version in blocked_now],
    )


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
