"""`kpi`: the command line. A thin layer over the functions the Dagster assets run.

This module only assembles the `kpi` command from a module per command group (run.py, dev.py,
sample_data.py, contract.py, definitions.py, scorecard.py, lineage.py, report.py); what they share
(exit codes, consoles, messages, folder options, settings) is in common.py.

Exit codes, the same for every command (README's command table):
0 ok; 1 blocked (a period held back by the quality gate, or a failed run); 2 bad input or
configuration (a bad environment variable, an unknown period, broken definitions, a bad option).
"""

from __future__ import annotations

from pathlib import Path

import typer

from dagster_project.cli.contract import contract_app
from dagster_project.cli.definitions import definitions_app
from dagster_project.cli.dev import dev
from dagster_project.cli.lineage import audit_app, lineage
from dagster_project.cli.report import report_command
from dagster_project.cli.run import run
from dagster_project.cli.sample_data import sample_data
from dagster_project.cli.scorecard import scorecard, status
from dagster_project.settings import prepare_command_environment

app = typer.Typer(
    pretty_exceptions_show_locals=False,
    help="KPI pipeline: extract sales, inventory and satisfaction data, compute KPIs, publish scorecards.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _read_dotenv() -> None:
    # Every command reads .env from the current folder, as `dagster dev` does; the environment wins.
    prepare_command_environment(Path.cwd() / ".env")


# In the order of `kpi --help`.
app.add_typer(contract_app, name="contract")
app.command("lineage")(lineage)
app.add_typer(audit_app, name="audit")
app.command()(run)
app.command("sample-data")(sample_data)
app.add_typer(definitions_app, name="definitions")
app.command()(dev)
app.command()(scorecard)
app.command()(status)
app.command("report")(report_command)

if __name__ == "__main__":
    app()
