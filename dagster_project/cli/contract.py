"""`kpi contract`: the source data contract, shown or written into docs/data_contract.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dagster_project.cli.common import console

contract_app = typer.Typer(help="The source data contract of the landing folder.", no_args_is_help=True)


@contract_app.command("show")
def contract_show() -> None:
    """Print the source data contract (the tables of docs/data_contract.md)."""
    from dagster_project.contract import contract_markdown

    console.print(contract_markdown(), markup=False, highlight=False)


@contract_app.command("docs")
def contract_docs(
    path: Annotated[Path, typer.Argument(help="The document to update.")] = Path("docs/data_contract.md"),
) -> None:
    """Regenerate the contract tables in docs/data_contract.md from the YAML contract."""
    from dagster_project.contract import render_contract_doc

    path.write_text(render_contract_doc(path.read_text(encoding="utf-8")), encoding="utf-8")
    console.print(f"Updated {path}.")
