"""What every `kpi` command shares: exit codes, the consoles and the one way to print a message, the
folder options and the one way a command gets its settings. Command modules (run.py, dev.py,
definitions.py, …) import this, never each other; app.py assembles them into the `kpi` command.

Exit codes, the same for every command (README's command table):
0 ok; 1 blocked (a period held back by the quality gate, or a failed run); 2 bad input or
configuration (a bad environment variable, an unknown period, broken definitions, a bad option).
"""

from __future__ import annotations

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


def print_text(text: str, style: str | None = None, stderr: bool = False) -> None:
    """Print `text` as it is: no markup (`[...]` in a name or a message is data), no highlighting,
    and never wrapped, so a path or a long message stays one line that can be copied."""
    (err_console if stderr else console).print(
        text, style=style, markup=False, highlight=False, soft_wrap=True
    )


def print_error(text: str) -> None:
    """`text` in red on stderr (print_text)."""
    print_text(text, style="red", stderr=True)


def print_warning(text: str) -> None:
    """`text` in yellow on stderr (print_text)."""
    print_text(text, style="yellow", stderr=True)


def _print_definition_problems(problems: list) -> None:
    """The problems of the KPI definitions, one a line (`kpi definitions check`, and `kpi run` before
    it starts)."""
    for problem in problems:
        print_error(f"✗ {problem}")
    err_console.print(
        f"{len(problems)} problem(s) in the KPI definitions. Fix them in the files named above "
        "and run `kpi definitions check` again."
    )


def _settings(landing_dir: Path | None = None, data_dir: Path | None = None) -> Settings:
    """The settings from the environment (and .env, read by app.py's callback), with the command's
    --landing-dir and --data-dir in place of KPI_LANDING_DIR and KPI_DATA_DIR; a bad value exits
    with code 2, naming the variable."""
    try:
        return Settings.from_env(landing_dir=landing_dir, data_dir=data_dir)
    except SettingsError as error:
        print_error(f"✗ Configuration: {error}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
