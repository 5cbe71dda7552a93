"""`kpi scorecard` and `kpi status`: the published scorecards and the publication log."""

from __future__ import annotations

from typing import Annotated

import typer

from dagster_project.cli.common import EXIT_BAD_INPUT, DataDirOption, _settings, console, print_error


def scorecard(
    period: Annotated[
        str, typer.Option("--period", help="The period: a month 2025-10, a quarter 2025-Q4 or a year 2025.")
    ],
    grain: Annotated[
        str | None, typer.Option("--grain", help="month, quarter or year (default: inferred from --period).")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="Org unit id (default: the root unit).")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels: en or zh.")] = "en",
    data_dir: DataDirOption = None,
) -> None:
    """Show the published scorecard of a period and org unit: KPIs by perspective, then the scores."""
    from dagster_project.render.terminal import scorecard_report
    from dagster_project.store import ReportError

    settings = _settings(data_dir=data_dir)
    try:
        report = scorecard_report(settings.data_dir, period, grain=grain, org=org, lang=lang)
    except ReportError as error:
        print_error(f"✗ {error}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console.print(report)


def status(
    data_dir: DataDirOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Publications and blocked attempts to show.")
    ] = 10,
) -> None:
    """Show the publication log: latest publications, blocked attempts and why, a one-line summary."""
    from dagster_project.render.terminal import status_report
    from dagster_project.store import ReportError

    settings = _settings(data_dir=data_dir)
    try:
        report = status_report(settings.data_dir, limit=limit)
    except ReportError as error:
        print_error(f"✗ {error}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console.print(report)
