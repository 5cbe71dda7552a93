"""`kpi definitions`: the KPI definitions in kpi_definitions/, checked, compiled into the KPI models or listed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from dagster_project.cli.common import (
    EXIT_BAD_INPUT,
    _print_definition_problems,
    console,
    err_console,
    print_error,
    print_text,
)

if TYPE_CHECKING:  # the kpis package is imported lazily: a fast start for every command
    from dagster_project.kpis.catalog import KpiCatalog

definitions_app = typer.Typer(help="The KPI definitions in kpi_definitions/.", no_args_is_help=True)
DefinitionsDirOption = Annotated[
    Path | None,
    typer.Option("--definitions-dir", help="KPI definitions folder (default: kpi_definitions/)."),
]


@definitions_app.command("check")
def definitions_check(definitions_dir: DefinitionsDirOption = None) -> None:
    """Validate the KPI definitions: governance fields, enums, references between metrics and measures,
    and that the KPI models generated from them are up to date."""
    from dagster_project.kpis.compiler import KpiCompileError, dbt_project_beside, stale_models

    folder = definitions_dir or _default_definitions_dir()
    catalog = _load_catalog_or_exit(folder)
    project = dbt_project_beside(folder)
    if (project / "dbt_project.yml").is_file():  # a folder of definitions alone has no models to compare
        try:
            stale = stale_models(project, catalog)
        except KpiCompileError as error:
            _print_compile_error(error)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        if stale:
            for path in stale:
                print_error(f"✗ {path}: not what the definitions generate (stale or edited by hand)")
            err_console.print("Run `kpi definitions compile` to regenerate it from the definitions.")
            raise typer.Exit(EXIT_BAD_INPUT)
    console.print(f"[green]✓ {len(catalog.kpis)} KPI definitions are valid[/green]")


@definitions_app.command("compile")
def definitions_compile(definitions_dir: DefinitionsDirOption = None) -> None:
    """Generate the SQL of the KPI models (kpi_values, kpi_dictionary) from the definitions into the
    dbt project beside them; `kpi run` does it too when the definitions changed."""
    from dagster_project.kpis.compiler import KpiCompileError, dbt_project_beside, write_models

    folder = definitions_dir or _default_definitions_dir()
    catalog = _load_catalog_or_exit(folder)
    project = dbt_project_beside(folder)
    if not (project / "dbt_project.yml").is_file():
        print_error(f"✗ no dbt project at {project}: the definitions folder must sit beside dbt_project/")
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        written = write_models(project, catalog)
    except KpiCompileError as error:
        _print_compile_error(error)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for path in written:
        print_text(f"Updated {path}.")
    if not written:
        console.print("[green]✓ The KPI models are up to date[/green]")


def _default_definitions_dir() -> Path:
    from dagster_project.settings import KPI_DEFINITIONS_DIR

    return KPI_DEFINITIONS_DIR


def _load_catalog_or_exit(folder: Path) -> KpiCatalog:
    from dagster_project.kpis.catalog import KpiDefinitionError, load_catalog

    try:
        return load_catalog(folder)
    except KpiDefinitionError as error:
        _print_definition_problems(error.problems)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _print_compile_error(error: Exception) -> None:
    print_error(f"✗ {error}")
    err_console.print("Fix the definitions named above and run `kpi definitions check` again.")


@definitions_app.command("list")
def definitions_list(
    lang: Annotated[str, typer.Option("--lang", help="Language of the labels: en or zh.")] = "en",
    definitions_dir: DefinitionsDirOption = None,
) -> None:
    """List the KPIs by perspective: id, label, unit, polarity, owner and version."""
    from dagster_project.kpis.catalog import sorted_for_listing

    if lang not in ("en", "zh"):
        err_console.print(f"[red]Unknown language {lang!r}:[/red] use --lang en or --lang zh.")
        raise typer.Exit(EXIT_BAD_INPUT)
    catalog = _load_catalog_or_exit(definitions_dir or _default_definitions_dir())
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
