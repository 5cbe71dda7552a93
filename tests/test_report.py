"""The scorecard report, checked as a person would see it: rendered by headless Chromium from the
published store of the sample pipeline run, with the numbers of a hand-checked period, the status
colours, the drill-down, both languages, and no network request."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from dagster_project.cli.app import app
from dagster_project.publish.files import published_path
from dagster_project.render.html import CHROMIUM, CHROMIUM_ARGS, write_report
from dagster_project.render.terminal import format_value
from tests.conftest import BuiltWarehouse

PERIOD = "2025-10"  # the hand-checked month
STATUS_BACKGROUNDS = {
    "green": "rgb(218, 251, 225)",
    "amber": "rgb(255, 236, 179)",
    "red": "rgb(255, 225, 224)",
}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """/usr/bin/chromium, which `make test` installs from the OS packages (`make system-packages`)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"No browser: {CHROMIUM} is missing; run `make system-packages` (OS packages chromium, chromium-driver)."
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def browser_context(chromium: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="kpi-test-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture
def open_report(browser_context, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Open a report file in a fresh page; returns the page and every URL it requested."""
    pages = []

    def _open(path: Path):  # type: ignore[no-untyped-def]
        page = browser_context.new_page()
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        pages.append(page)
        return page, requested

    yield _open
    for page in pages:
        page.close()


def published(built: BuiltWarehouse, sql: str, parameters: list | None = None) -> list[tuple]:
    with duckdb.connect(str(published_path(built.settings.data_dir)), read_only=True) as con:
        return con.execute(sql, parameters or []).fetchall()


def company_rows(built: BuiltWarehouse) -> list[tuple]:
    return published(
        built,
        "select kpi_id, kpi_label, kpi_label_zh, unit, decimals, actual, target, status from scorecard "
        "where period_grain = 'month' and period_label = ? and org_unit_id = 'HQ' order by kpi_id",
        [PERIOD],
    )


def test_report_shows_the_hand_checked_numbers_and_status_colours(
    built_warehouse: BuiltWarehouse, open_report, tmp_path: Path
) -> None:
    path = write_report(built_warehouse.settings.data_dir, PERIOD, lang="en", out=tmp_path / "report.html")
    page, requested = open_report(path)

    # Net revenue of the company, by hand from the staged sales and returns of October 2025.
    (net_revenue,) = built_warehouse.query(
        "select (select sum(quantity * unit_price - discount_amount) from staging.stg_sales_lines "
        "        where order_date between date '2025-10-01' and date '2025-10-31') "
        "     - (select coalesce(sum(refund_amount), 0) from staging.stg_returns "
        "        where return_date between date '2025-10-01' and date '2025-10-31')"
    )[0]
    row = page.locator("details.kpi[data-kpi='net_revenue'] > summary.row")
    assert row.locator(".actual").inner_text() == f"{float(net_revenue):,.0f}"
    assert "Net revenue" in row.inner_text()

    rows = company_rows(built_warehouse)
    assert len(rows) >= 10
    seen_statuses = set()
    for kpi_id, label, _, unit, decimals, actual, target, status in rows:
        summary = page.locator(f"details.kpi[data-kpi='{kpi_id}'] > summary.row")
        assert summary.is_visible(), kpi_id
        assert summary.locator(".name").inner_text().strip() == label
        assert summary.locator(".actual").inner_text().rstrip("*") == format_value(actual, unit, decimals)
        assert summary.locator(".target").inner_text() == format_value(target, unit, decimals)
        chip = summary.locator(".chip")
        assert chip.get_attribute("data-status") == status
        if status in STATUS_BACKGROUNDS:
            colour = chip.evaluate("element => getComputedStyle(element).backgroundColor")
            assert colour == STATUS_BACKGROUNDS[status], (kpi_id, status)
            seen_statuses.add(status)
        assert summary.locator("svg.spark").count() == 1  # the trend line
    assert {"green", "red"} <= seen_statuses  # the hand-checked month has both colours

    (overall,) = published(
        built_warehouse,
        "select score from scorecard_scores where period_grain = 'month' and period_start = date '2025-10-01' "
        "and org_unit_id = 'HQ' and perspective = 'overall'",
    )[0]
    assert page.locator("#overall-score .big").inner_text() == f"{overall:.1f}"
    assert page.title().startswith("KPI scorecard")

    # Only the file itself was loaded: no script, style, font or image from anywhere.
    assert requested == [path.resolve().as_uri()]
    html = path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html


def test_report_drills_down_from_company_to_regions_to_stores(
    built_warehouse: BuiltWarehouse, open_report, tmp_path: Path
) -> None:
    path = write_report(built_warehouse.settings.data_dir, PERIOD, out=tmp_path / "report.html")
    page, _ = open_report(path)
    (region, region_actual), (store, store_actual) = (
        published(
            built_warehouse,
            "select org_unit_id, actual from scorecard where period_grain = 'month' and period_label = ? "
            "and kpi_id = 'net_revenue' and unit_type = ? order by org_unit_id limit 1",
            [PERIOD, unit_type],
        )[0]
        for unit_type in ("region", "store")
    )
    kpi = page.locator("details.kpi[data-kpi='net_revenue']")
    region_row = kpi.locator(f"details.unit[data-org='{region}'] > summary.row")
    assert not region_row.is_visible()  # closed until the reader opens the KPI
    kpi.locator("summary.row.company").click()
    assert region_row.is_visible()
    assert region_row.locator(".actual").inner_text() == f"{region_actual:,.0f}"
    store_row = kpi.locator(f".row[data-org='{store}']")
    if not store_row.is_visible():  # the store sits under its region
        parent = published(
            built_warehouse,
            "select distinct parent_org_unit_id from scorecard where org_unit_id = ?",
            [store],
        )
        kpi.locator(f"details.unit[data-org='{parent[0][0]}'] > summary").click()
    assert store_row.is_visible()
    assert store_row.locator(".actual").inner_text() == f"{store_actual:,.0f}"
    assert store_row.locator(".actual").get_attribute("title") == (
        f"kpi lineage net_revenue --period {PERIOD} --grain month --org {store}"
    )


def test_report_in_chinese_uses_the_chinese_labels(
    built_warehouse: BuiltWarehouse, open_report, tmp_path: Path
) -> None:
    path = write_report(built_warehouse.settings.data_dir, PERIOD, lang="zh", out=tmp_path / "report_zh.html")
    page, requested = open_report(path)
    text = page.locator("body").inner_text()
    assert "KPI 计分卡" in text and "综合得分" in text and "异常预警" in text and "财务" in text
    (root_zh,) = published(
        built_warehouse, "select any_value(org_unit_name_zh) from scorecard where org_unit_id = 'HQ'"
    )[0]
    assert root_zh in page.locator("h1").inner_text()
    zh_statuses = {
        "green": "达标",
        "amber": "预警",
        "red": "未达标",
        "no_target": "无目标",
        "no_data": "无数据",
    }
    for kpi_id, _, label_zh, unit, decimals, actual, _, status in company_rows(built_warehouse):
        summary = page.locator(f"details.kpi[data-kpi='{kpi_id}'] > summary.row")
        assert summary.locator(".name").inner_text().strip() == label_zh
        assert summary.locator(".actual").inner_text().rstrip("*") == format_value(actual, unit, decimals)
        assert summary.locator(".chip").inner_text() == zh_statuses[status]
        if status in STATUS_BACKGROUNDS:
            colour = summary.locator(".chip").evaluate("element => getComputedStyle(element).backgroundColor")
            assert colour == STATUS_BACKGROUNDS[status]
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert requested == [path.resolve().as_uri()]


def test_report_lists_the_published_alerts_of_the_period(
    built_warehouse: BuiltWarehouse, open_report, tmp_path: Path
) -> None:
    alerts = published(
        built_warehouse,
        "select kpi_id, org_unit_id, detected_rule, severity from kpi_alerts "
        "where period_grain = 'month' and period_label = ?",
        [PERIOD],
    )
    path = write_report(built_warehouse.settings.data_dir, PERIOD, out=tmp_path / "report.html")
    page, _ = open_report(path)
    assert page.locator("tr.alert").count() == len(alerts)
    for kpi_id, org_unit_id, rule, severity in alerts:
        row = page.locator(f"tr.alert[data-kpi='{kpi_id}'][data-org='{org_unit_id}'][data-rule='{rule}']")
        assert row.locator(".chip").inner_text() == severity
    if not alerts:
        assert "No early warnings for this period." in page.locator("#alerts + section").inner_text()


def test_report_footer_shows_version_time_and_lineage_commands(
    built_warehouse: BuiltWarehouse, open_report, tmp_path: Path
) -> None:
    path = write_report(built_warehouse.settings.data_dir, PERIOD, out=tmp_path / "report.html")
    page, _ = open_report(path)
    ((version, published_at),) = published(
        built_warehouse,
        "select version, published_at from publications where period_grain = 'month' and period_label = ? "
        "order by version desc limit 1",
        [PERIOD],
    )
    footer = page.locator("footer")
    assert (
        f"Publication version {version}, published {published_at:%Y-%m-%d %H:%M:%S} UTC"
        in footer.inner_text()
    )
    footer.locator("#lineage > summary").click()
    commands = footer.locator("code").all_inner_texts()
    assert f"kpi lineage net_revenue --period {PERIOD} --grain month --org HQ" in commands
    assert len(commands) == len(company_rows(built_warehouse))
    screenshot = page.screenshot(full_page=False)
    assert screenshot[:8] == b"\x89PNG\r\n\x1a\n"


def test_kpi_report_command_writes_the_file_and_prints_its_path(
    built_warehouse: BuiltWarehouse, tmp_path: Path
) -> None:
    data_dir = str(built_warehouse.settings.data_dir)
    out = tmp_path / "cli.html"
    result = CliRunner().invoke(
        app, ["report", "--period", "2025-Q4", "--lang", "zh", "--out", str(out), "--data-dir", data_dir]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(out)
    assert "2025-Q4" in out.read_text(encoding="utf-8")

    latest = CliRunner().invoke(
        app, ["report", "--data-dir", data_dir]
    )  # the latest month: what `make run` writes
    assert latest.exit_code == 0, latest.output
    written = Path(latest.output.strip().splitlines()[-1])
    assert written.name == "scorecard_2025-12_en.html" and written.is_file()


def test_kpi_report_of_an_unpublished_period_exits_2_saying_what_exists(
    built_warehouse: BuiltWarehouse,
) -> None:
    data_dir = str(built_warehouse.settings.data_dir)
    result = CliRunner().invoke(app, ["report", "--period", "2031-01", "--data-dir", data_dir])
    assert result.exit_code == 2
    assert "2031-01 (month) has not been published" in result.output
    assert "2024-01 … 2025-12" in result.output
    bad_lang = CliRunner().invoke(app, ["report", "--period", PERIOD, "--lang", "fr", "--data-dir", data_dir])
    assert bad_lang.exit_code == 2 and "Unknown language 'fr'" in bad_lang.output
