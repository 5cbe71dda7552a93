"""`kpi definitions`: the KPI definitions in kpi_definitions/, checked or listed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from dagster_project.cli.common import EXIT_BAD_INPUT, _print_definition_problems, console, err_console

definitions_app = typer.Typer(help="The KPI definitions in kpi_definitions/.", no_args_is_help=True)
DefinitionsDirOption = Annotated[
    Path | None,
    typer.Option("--definitions-dir", help="KPI definitions folder (default: kpi_definitions/)."),
]


@definitions_app.command("check")
def definitions_check(definitions_dir: DefinitionsDirOption = None) -> None:
    """Validate the KPI definitions: governance fields, enums, references between metrics and measures."""
    from dagster_project.kpis.catalog import KpiDefinitionError, load_catalog
    from dagster_project.settings import KPI_DEFINITIONS_DIR

    try:
        catalog = load_catalog(definitions_dir or KPI_DEFINITIONS_DIR)
    except KpiDefinitionError as error:
        _print_definition_problems(error.problems)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console.print(f"[green]✓ {len(catalog.kpis)} KPI definitions are valid[/green]")


@definitions_app.command("list")
def definitions_list(
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels: en or zh.")] = "en",
    definitions_dir: DefinitionsDirOption = None,
) -> None:
    """List the KPIs by perspective: id, label, unit, polarity, owner and version."""
    from dagster_project.kpis.catalog import KpiDefinitionError, load_catalog, sorted_for_listing
    from dagster_project.settings import KPI_DEFINITIONS_DIR

    if lang not in ("en", "zh"):
        err_console.print(f"[red]Unknown language {lang!r}:[/red] use --lang en or --lang zh.")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        catalog = load_catalog(definitions_dir or KPI_DEFINITIONS_DIR)
    except KpiDefinitionError as error:
        _print_definition_problems(error.problems)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    # Identifiers never wrap or truncate; label and owner wrap when the terminal is narrow.
    table = Table(
        title=f"{len(catalog.kpis)} KPIs", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
    for name in ("perspective", "kpi_id", "label", "unit", "polarity", "owner", "version"):
        wraps = name in ("label", "owner")
        table.add_column(
            name, no_wrap=not wraps, overflow="fold", justify="right" if name == "version" else "left"
        )
    for kpi in sorted_for_listing(catalog):
        label = kpi.label_zh if lang == "zh" else kpi.label
        row = (kpi.perspective, kpi.kpi_id, label, kpi.unit, kpi.polarity, kpi.owner, str(kpi.version))
        table.add_row(*row)
    console.print(table, markup=False)
