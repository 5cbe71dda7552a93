"""`kpi scorecard` and `kpi status` on a tiny published file (no pipeline, no dbt).

A hand-made staged warehouse (two org units, six KPIs in four perspectives, two months, a quarter
and a year) is published with `publish_scorecards`, so the commands read exactly what the publisher
writes. The values of HQ in 2025-02 are checked by hand below.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from dagster_project.cli.app import app
from dagster_project.publish.files import published_path
from dagster_project.publish.gate_results import CheckResult, GateResult
from dagster_project.publish.writer import publish_scorecards
from dagster_project.render.terminal import (
    format_change,
    format_value,
    parse_period,
    scorecard_report,
)
from dagster_project.store import ReportError
from tests.helpers import warehouse_from_sql

T0 = datetime(2025, 3, 5, 6, 0, tzinfo=UTC)
FEB = date(2025, 2, 1)
MAR = date(2025, 3, 1)

# Currency and count KPIs scale with the period (and halve for the store); the others do not.
STAGED_SQL = """
create schema scorecard;
create schema kpi;
create table scorecard.scorecard as
with periods(period_grain, period_start, period_end, period_label, scale) as (
    values ('month', date '2025-01-01', date '2025-01-31', '2025-01', 0.9),
           ('month', date '2025-02-01', date '2025-02-28', '2025-02', 1.0),
           ('quarter', date '2025-01-01', date '2025-03-31', '2025-Q1', 3.0),
           ('year', date '2025-01-01', date '2025-12-31', '2025', 12.0)
), units(org_unit_id, org_unit_name, org_unit_name_zh, unit_type, parent_org_unit_id, factor) as (
    values ('HQ', 'Company', '公司', 'company', null, 1.0),
           ('S1', 'Store 1', '一店', 'store', 'HQ', 0.5)
), kpis(kpi_id, kpi_label, kpi_label_zh, perspective, unit, polarity, decimals, weight,
        base_actual, base_target, status, value_status, sample_size, change_pp, change_py) as (
    values
    ('net_revenue', 'Net revenue', '净收入', 'financial', 'currency', 'higher_is_better', 0, 2.0,
     1234567.4, 1200000.0, 'green', 'ok', null, 23456.6, -1500.2),
    ('gross_margin_pct', 'Gross margin %', '毛利率', 'financial', 'percent', 'higher_is_better', 1, 1.0,
     36.47, 37.4, 'amber', 'ok', null, -0.58, null),
    ('nps', 'Net Promoter Score', '净推荐值', 'customer', 'score', 'higher_is_better', 1, 1.0,
     44.444, 35.0, 'green', 'low_sample', 27, 13.41, 22.2),
    ('complaints_per_1k_orders', 'Complaints per 1,000 orders', '千单投诉率', 'customer', 'ratio',
     'lower_is_better', 2, 1.0, 15.5902, 9.3, 'red', 'ok', null, 4.66, -0.001),
    ('stockout_rate_pct', 'Stock-out rate %', '缺货率', 'internal_process', 'percent', 'lower_is_better',
     2, 1.0, null, 2.9, 'no_data', 'no_data', null, null, null),
    ('training_hours', 'Training hours [h]', '培训时长', 'learning_growth', 'count', 'higher_is_better',
     0, 1.0, 1250.0, null, 'no_target', 'ok', null, -20.0, null)
), base as (
    select p.*, u.*, k.*,
           case when k.unit in ('currency', 'count') then p.scale * u.factor else 1.0 end as m
    from periods as p cross join units as u cross join kpis as k
)
select
    period_grain, period_start, period_end, period_label,
    org_unit_id, org_unit_name, org_unit_name_zh, unit_type, parent_org_unit_id,
    kpi_id, kpi_label, kpi_label_zh, perspective, unit, polarity, decimals::integer as decimals,
    base_actual * m as actual, base_actual * m as numerator, null::double as denominator,
    sample_size::bigint as sample_size, value_status,
    base_target * m as target, date '2024-01-01' as target_effective_from, 'cfo' as target_set_by,
    base_actual / base_target as attainment, status,
    (case status when 'green' then 100 when 'amber' then 50 when 'red' then 0 end)::integer as points,
    base_actual * m - change_pp * m as prior_period_actual, change_pp * m as change_vs_prior_period,
    base_actual * m - change_py * m as prior_year_actual, change_py * m as change_vs_prior_year,
    weight
from base;
create table scorecard.scorecard_scores as
with perspective_scores as (
    select period_grain, period_start, org_unit_id, perspective,
           sum(points * weight) / sum(weight) as score, count(points)::integer as kpis_scored
    from scorecard.scorecard
    where points is not null
    group by all
)
select * from perspective_scores
union all
select period_grain, period_start, org_unit_id, 'overall', avg(score), sum(kpis_scored)::integer
from perspective_scores
group by all;
create table kpi.kpi_dictionary as
select distinct kpi_id, kpi_label as label, kpi_label_zh as label_zh from scorecard.scorecard;
"""


def failing_check(start: date, details: str) -> CheckResult:
    return CheckResult(
        suite="scorecard",
        expectation="expect_column_values_to_be_between",
        table="scorecard.scorecard",
        severity="critical",
        success=False,
        period_grain="month",
        period_start=start,
        observed_value="1 rows",
        failing_rows_sample=json.dumps([{"kpi_id": "nps", "actual": -250.0}]),
        details=details,
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return warehouse_from_sql(tmp_path / "warehouse.duckdb", STAGED_SQL)


@pytest.fixture
def data_dir(tmp_path: Path, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One publication of every staged period; KPI_DATA_DIR points at it."""
    data = tmp_path / "data"
    publish_scorecards(warehouse, data, GateResult(), run_id="run-0", published_at=T0)
    monkeypatch.setenv("KPI_DATA_DIR", str(data))
    return data


@pytest.fixture
def history(data_dir: Path, warehouse: Path) -> Path:
    """A second run: 2025-01 restated, 2025-02 blocked (v1 stays), 2025-03 blocked (never published)."""
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            "update scorecard.scorecard set actual = 999999.0 "
            "where period_label = '2025-01' and org_unit_id = 'HQ' and kpi_id = 'net_revenue'"
        )
        con.execute(
            "update scorecard.scorecard set actual = -250.0 "
            "where period_label = '2025-02' and org_unit_id = 'HQ' and kpi_id = 'nps'"
        )
        for table in ("scorecard", "scorecard_scores"):
            extra = (
                ", date '2025-03-31' as period_end, '2025-03' as period_label" if table == "scorecard" else ""
            )
            con.execute(
                f"insert into scorecard.{table} by name select * replace (date '2025-03-01' as period_start"
                f"{extra}) from scorecard.{table} where period_grain = 'month' and period_start = ?",
                [FEB],
            )
    gate = GateResult.from_checks(
        [failing_check(FEB, "nps out of [-100, 100]"), failing_check(MAR, "nps out of [-100, 100] in March")]
    )
    publish_scorecards(
        warehouse, data_dir, gate, run_id="run-1", published_at=T0.replace(minute=1), reason_context="close"
    )
    return data_dir


def invoke(*args: str) -> tuple[int, str]:
    """Run `kpi …`; the exit code and the output (stdout and stderr) with Rich's wrapping undone."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def assert_shows(out: str, *texts: str) -> None:
    """Every text is in the output; a failure names all the missing ones."""
    missing = [text for text in texts if text not in out]
    assert not missing, f"missing {missing} in: {out}"


# --- kpi scorecard -------------------------------------------------------------------------------


def test_scorecard_of_a_month_shows_the_hand_checked_values(data_dir: Path) -> None:
    code, out = invoke("scorecard", "--period", "2025-02")
    assert code == 0, out
    assert_shows(
        out,
        # title: root org unit by default, period, version and publication time
        "Scorecard · Company (HQ) · 2025-02 (month)",
        "version 1, published 2025-03-05 06:00:00 UTC",
        # currency: thousands separators, 0 decimals; changes signed
        "Net revenue 1,234,567 1,200,000 green +23,457 -1,500",
        # percent: 1 decimal and %, changes in percentage points, no prior year
        "Gross margin % 36.5% 37.4% amber -0.6 pp —",
        # low sample: marked and explained with its sample size
        "Net Promoter Score 44.4 * 35.0 green +13.4 +22.2",
        "low sample: Net Promoter Score (n=27)",
        # a change that rounds to zero has no sign
        "Complaints per 1,000 orders 15.59 9.30 red +4.66 0.00",
        "Stock-out rate % — 2.90% no data — —",
        # a label with brackets is text, not Rich markup
        "Training hours [h] 1,250 — no target -20 —",
        # scores: financial (100·2 + 50·1)/3, customer (100 + 0)/2, overall their mean over 4 rated KPIs
        "Financial 83.3 2",
        "Customer 50.0 2",
        "Overall 66.7 4",
        "Overall score: 66.7 (4 KPIs rated)",
    )
    # perspectives in balanced-scorecard order
    headings = [out.index(h) for h in ("Financial", "Customer", "Internal process", "Learning & growth")]
    assert headings == sorted(headings)


def test_scorecard_in_chinese_uses_chinese_names_labels_headings_and_status_words(data_dir: Path) -> None:
    code, out = invoke("scorecard", "--period", "2025-02", "--lang", "zh")
    assert code == 0, out
    assert_shows(out, "财务", "客户", "内部流程", "学习与成长", "指标", "实际值", "目标值", "状态")
    assert_shows(
        out,
        "计分卡 · 公司（HQ）· 2025-02（月）",
        "第 1 版，发布于 2025-03-05 06:00:00 UTC",
        "净收入 1,234,567 1,200,000 达标",
        "毛利率 36.5% 37.4% 预警",
        "千单投诉率 15.59 9.30 未达标",
        "缺货率 — 2.90% 无数据",
        "培训时长 1,250 — 无目标",
        "样本量不足：净推荐值 (n=27)",
        "综合得分：66.7（4 项指标参评）",
    )
    for english in ("Net revenue", "green", "amber", "Company"):
        assert english not in out


@pytest.mark.parametrize(
    ("args", "title", "revenue"),
    [
        (["--period", "2025-Q1"], "2025-Q1 (quarter)", "Net revenue 3,703,702 3,600,000"),
        (["--period", "2025-q1", "--grain", "quarter"], "2025-Q1 (quarter)", "Net revenue 3,703,702"),
        (["--period", "2025"], "2025 (year)", "Net revenue 14,814,809 14,400,000"),
        (["--period", "2025-01", "--grain", "month"], "2025-01 (month)", "Net revenue 1,111,111 1,080,000"),
    ],
)
def test_scorecard_infers_the_grain_from_the_period(
    data_dir: Path, args: list[str], title: str, revenue: str
) -> None:
    code, out = invoke("scorecard", *args)
    assert code == 0, out
    assert f"Company (HQ) · {title}" in out
    assert revenue in out


def test_scorecard_of_another_org_unit_and_data_dir_option(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KPI_DATA_DIR", str(data_dir.parent / "elsewhere"))
    code, out = invoke("scorecard", "--period", "2025-02", "--org", "S1", "--data-dir", str(data_dir))
    assert code == 0, out
    assert "Store 1 (S1) · 2025-02 (month)" in out
    assert "Net revenue 617,284 600,000 green" in out  # half of HQ's


def test_scorecard_on_a_narrow_console_wraps_labels_and_keeps_every_number(data_dir: Path) -> None:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(scorecard_report(data_dir, "2025-02"))
    out = console.export_text()
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 80
    assert "…" not in out
    for number in ("1,234,567", "1,200,000", "+23,457", "-1,500", "36.5%", "-0.6 pp", "44.4 *", "15.59"):
        assert number in out


def test_scorecard_does_not_change_the_published_file(data_dir: Path) -> None:
    path = published_path(data_dir)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert invoke("scorecard", "--period", "2025-02")[0] == 0
    assert invoke("status")[0] == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not path.with_name(path.name + ".wal").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--period", "2025-02", "--grain", "quarter"],
            "--period 2025-02 is a month but --grain is quarter: drop --grain (it is inferred from the "
            "period) or give a quarter, e.g. --period 2025-Q1.",
        ),
        (["--period", "2025", "--grain", "month"], "e.g. --period 2025-01"),
        (
            ["--period", "2025-02", "--grain", "week"],
            "--grain 'week' is not a grain: use month, quarter, year.",
        ),
        (["--period", "Feb 2025"], "--period 'Feb 2025' is not a period: write a month (2025-10)"),
        (["--period", "2025-13"], "month 13 does not exist"),
        (["--period", "2025-02", "--lang", "fr"], "Unknown language 'fr': use --lang en or --lang zh."),
        (["--period", "2024-12"], "2024-12 (month) has not been published in"),
        (["--period", "2024-12"], "Published months: 2025-01, 2025-02."),
        (["--period", "2024"], "Published years: 2025."),
        (
            ["--period", "2025-02", "--org", "S9"],
            "Org unit 'S9' is not in the published scorecard of 2025-02 in",
        ),
        (["--period", "2025-02", "--org", "S9"], "Did you mean S1? Org units: HQ, S1."),
    ],
)
def test_scorecard_bad_input_exits_2_with_a_message(data_dir: Path, args: list[str], message: str) -> None:
    code, out = invoke("scorecard", *args)
    assert code == 2, out
    assert message in out
    assert "Scorecard ·" not in out


def test_scorecard_without_a_published_file_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "empty"))
    code, out = invoke("scorecard", "--period", "2025-02")
    assert code == 2
    assert f"No published scorecards: {tmp_path / 'empty' / 'published.duckdb'} does not exist." in out
    code, out = invoke("status")
    assert code == 2
    assert "No published scorecards:" in out


def test_scorecard_shows_the_restated_version(history: Path) -> None:
    code, out = invoke("scorecard", "--period", "2025-01")
    assert code == 0, out
    assert "version 2, published 2025-03-05 06:01:00 UTC" in out
    assert "Net revenue 999,999" in out
    assert "blocked" not in out


def test_scorecard_of_a_blocked_period_shows_the_last_good_version_and_says_so(history: Path) -> None:
    code, out = invoke("scorecard", "--period", "2025-02")
    assert code == 0, out
    assert "version 1, published 2025-03-05 06:00:00 UTC" in out
    assert "Net Promoter Score 44.4 *" in out  # not the blocked -250
    assert "latest publication attempt for 2025-02 (2025-03-05 06:01:00 UTC) was blocked" in out


def test_scorecard_of_a_never_published_blocked_period_says_why(history: Path) -> None:
    code, out = invoke("scorecard", "--period", "2025-03")
    assert code == 2
    assert "2025-03 (month) has not been published" in out
    assert "Its last attempt (2025-03-05 06:01:00 UTC) was blocked: 1 critical check(s) failed" in out


# --- kpi status ----------------------------------------------------------------------------------


def test_status_after_one_clean_publication(data_dir: Path) -> None:
    code, out = invoke("status")
    assert code == 0, out
    assert "Latest 4 of 4 publications" in out
    assert "2025-02 month 1 initial 2025-03-05 06:00:00 12" in out
    assert "No blocked attempts." in out
    assert (
        "4 periods published (2 months, 1 quarter, 1 year); latest version 2025-03-05 06:00:00 UTC; "
        "blocked now: none" in out
    )


def test_status_shows_blocked_attempts_with_reasons_and_failing_checks(history: Path) -> None:
    code, out = invoke("status", "--limit", "3")
    assert code == 0, out  # informational, even with blocked periods
    assert "Latest 3 of 5 publications" in out
    assert "2025-01 month 2 restatement 2025-03-05 06:01:00" in out
    assert "Latest 2 of 2 blocked attempts" in out
    assert "2025-03 (month) blocked at 2025-03-05 06:01:00 UTC, run run-1: never published" in out
    assert "2025-02 (month) blocked at 2025-03-05 06:01:00 UTC, run run-1: version 1 stays published" in out
    assert (
        "reason: blocked: 1 critical check(s) failed: scorecard.expect_column_values_to_be_between on "
        "scorecard.scorecard; version 1 stays published; context: close" in out
    )
    assert (
        "• scorecard / expect_column_values_to_be_between on scorecard.scorecard — period 2025-02 (month); "
        "observed 1 rows; nps out of [-100, 100]; failing rows e.g." in out
    )
    assert "period 2025-03 (month); observed 1 rows; nps out of [-100, 100] in March" in out
    assert "blocked now: 2025-02 (v1 stays), 2025-03 (never published)" in out
    assert "4 periods published" in out


def test_status_limit_must_be_positive(data_dir: Path) -> None:
    assert invoke("status", "--limit", "0")[0] == 2


# --- formatting and parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (1234567.4, "currency", 0, "1,234,567"),
        (705.2961, "currency", 2, "705.30"),
        (36.47357, "percent", 1, "36.5%"),
        (2.5, "percent", 2, "2.50%"),
        (18.0, "count", 0, "18"),
        (None, "percent", 1, "—"),
        (float("nan"), "ratio", 2, "—"),
        (-0.0004, "ratio", 2, "0.00"),
    ],
)
def test_format_value(value: float | None, unit: str, decimals: int, expected: str) -> None:
    assert format_value(value, unit, decimals) == expected


@pytest.mark.parametrize(
    ("value", "unit", "decimals", "expected"),
    [
        (59863.22, "currency", 0, "+59,863"),
        (-43.0586, "currency", 2, "-43.06"),
        (-0.58145, "percent", 1, "-0.6 pp"),
        (0.04, "percent", 1, "0.0 pp"),
        (-0.001, "ratio", 2, "0.00"),
        (None, "count", 0, "—"),
    ],
)
def test_format_change(value: float | None, unit: str, decimals: int, expected: str) -> None:
    assert format_change(value, unit, decimals) == expected


@pytest.mark.parametrize(
    ("text", "grain", "start", "label"),
    [
        ("2025-10", "month", date(2025, 10, 1), "2025-10"),
        ("2025-3", "month", date(2025, 3, 1), "2025-03"),
        ("2025-Q4", "quarter", date(2025, 10, 1), "2025-Q4"),
        (" 2025q2 ", "quarter", date(2025, 4, 1), "2025-Q2"),
        ("2025", "year", date(2025, 1, 1), "2025"),
    ],
)
def test_parse_period(text: str, grain: str, start: date, label: str) -> None:
    period = parse_period(text)
    assert (period.grain, period.start, period.label) == (grain, start, label)
    assert parse_period(text, grain) == period


@pytest.mark.parametrize("text", ["2025-Q5", "2025-00", "25-10", "2025-10-01", ""])
def test_parse_period_rejects_what_is_not_a_period(text: str) -> None:
    with pytest.raises(ReportError):
        parse_period(text)
