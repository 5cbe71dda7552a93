"""The scorecard report: one self-contained HTML file per period (`kpi report`), read from the
published store. `build_report` gathers the numbers, `render_report` turns them into HTML with the
Jinja template in templates/, `write_report` does both and writes the file."""

from dagster_project.report.html import (
    ReportData,
    build_report,
    default_report_path,
    latest_period,
    render_report,
    take_screenshot,
    write_report,
)

__all__ = [
    "ReportData",
    "build_report",
    "default_report_path",
    "latest_period",
    "render_report",
    "take_screenshot",
    "write_report",
]
