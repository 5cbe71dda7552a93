"""`kpi report`: the typer command (registered in dagster_project/cli/app.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report_command(
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="The period: a month 2025-10, a quarter 2025-Q4 or a year 2025 "
            "(default: the latest published period of --grain, else the latest month).",
        ),
    ] = None,
    grain: Annotated[
        str | None, typer.Option("--grain", help="month, quarter or year (default: inferred from --period).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels: en or zh.")] = "en",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="The HTML file to write (default: <data dir>/reports/scorecard_<period>_<lang>.html).",
        ),
    ] = None,
    screenshot: Annotated[
        Path | None,
        typer.Option("--screenshot", help="Also save a PNG of the report as headless Chromium shows it."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Data folder with published.duckdb (default: $KPI_DATA_DIR or data)."
        ),
    ] = None,
) -> None:
    """Write the scorecard report of a period: one self-contained HTML file (no network needed to view it)."""
    from dagster_project.cli.common import EXIT_BAD_INPUT, _settings, print_error, print_text
    from dagster_project.render.html import take_screenshot, write_report
    from dagster_project.store import ReportError

    settings = _settings(data_dir=data_dir)
    try:
        path = write_report(settings.data_dir, period, grain=grain, lang=lang, out=out)
        if screenshot is not None:
            take_screenshot(path, screenshot)
    except ReportError as error:
        print_error(f"✗ {error}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if screenshot is not None:
        print_text(f"Screenshot: {screenshot}")
    # The path alone on the last line, so scripts (and `make run`) can pick it up.
    print_text(str(path))
