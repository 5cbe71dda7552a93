"""`kpi sample-data`: a deterministic sample landing folder."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from dagster_project.cli.common import EXIT_BAD_INPUT, LandingDirOption, _settings, console, err_console


def sample_data(
    landing_dir: LandingDirOption = None,
    sales_lines: Annotated[int, typer.Option(help="Approximate number of sales lines.", min=100)] = 200_000,
    end_month: Annotated[str, typer.Option(help="Last full month, YYYY-MM.")] = "2025-12",
    months: Annotated[int, typer.Option(help="Number of full months.", min=1)] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 42,
    bad_rows: Annotated[bool, typer.Option(help="Plant a few bad rows so quarantine is exercised.")] = True,
    skip_if_present: Annotated[
        bool, typer.Option(help="Do nothing (exit 0) when the landing folder already holds files.")
    ] = False,
) -> None:
    """Write a deterministic sample landing folder in the shape of the data contract."""
    from dagster_project.sample_data.generator import generate_sample_data

    settings = _settings(landing_dir)
    target = settings.landing_dir
    if skip_if_present and target.is_dir() and any(p.is_file() for p in target.rglob("*")):
        console.print(f"The landing folder {target} already holds files: no sample data written.")
        return
    started = time.monotonic()
    try:
        with console.status(f"Generating about {sales_lines:,} sales lines…"):
            summary = generate_sample_data(
                target,
                sales_lines=sales_lines,
                end_month=end_month,
                months=months,
                seed=seed,
                bad_rows=bad_rows,
            )
    except FileExistsError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except ValueError as error:
        err_console.print(f"[red]Bad option: {error}[/red]")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    table = Table(
        title=f"Sample data {summary.first_month} … {summary.last_month} in {summary.landing_dir}",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("entity")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    table.add_column("planted bad rows", justify="right")
    bad = summary.bad_rows_by_entity()
    for entity, files in summary.files.items():
        table.add_row(entity, str(len(files)), f"{summary.rows[entity]:,}", str(bad.get(entity, 0)))
    console.print(table)
    if summary.bad_rows:
        console.print(
            f"{len(summary.bad_rows)} rows are deliberately bad (so quarantine is exercised), e.g.: "
            + "; ".join(f"{b.file}:{b.line} {b.reason}" for b in summary.bad_rows[:3])
        )
    console.print(f"[green]Written in {time.monotonic() - started:.1f} s.[/green]")
