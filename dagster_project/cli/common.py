"""What every `kpi` command shares: exit codes, the consoles, the folder options and the one way a
command gets its settings. Command modules (app.py, lineage.py, report.py) import this, never each other.

Exit codes, the same for every command (README's command table):
0 ok; 1 blocked (a period held back by the quality gate, or a failed run); 2 bad input or
configuration (a bad environment variable, an unknown period, broken definitions, a bad option).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dagster_project.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

# Logs and CI capture output without a terminal: Rich would fall back to 80 columns there.
_WIDTH = None if sys.stdout.isatty() else 110
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

LandingDirOption = Annotated[
    Path | None,
    typer.Option("--landing-dir", help="Landing folder (default: $KPI_LANDING_DIR or data/landing)."),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data folder for the warehouse and Dagster (default: $KPI_DATA_DIR or data)."
    ),
]


def _settings(landing_dir: Path | None = None, data_dir: Path | None = None) -> Settings:
    """The settings from the environment (and .env, read by `_read_dotenv`); a bad value exits with
    code 2, naming the variable."""
    if landing_dir is not None:
        os.environ["KPI_LANDING_DIR"] = str(landing_dir.expanduser().resolve())
    if data_dir is not None:
        os.environ["KPI_DATA_DIR"] = str(data_dir.expanduser().resolve())
    try:
        return Settings.from_env()
    except SettingsError as error:
        err_console.print(
            f"✗ Configuration: {error}", style="red", markup=False, highlight=False, soft_wrap=True
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
