"""`kpi run`: the pipeline through Dagster, with progress bars and a summary of what it did."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from dagster_project.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    DataDirOption,
    LandingDirOption,
    _print_definition_problems,
    _settings,
    console,
    err_console,
    print_error,
    print_text,
    print_warning,
)
from dagster_project.render.text import printable

_MONTHS_HELP = "month partition to compute and publish (YYYY-MM); the quarters and years the months belong to are recomputed too. Default: every month."


def run(
    landing_dir: LandingDirOption = None,
    data_dir: DataDirOption = None,
    first_month: Annotated[
        str | None, typer.Option("--from", metavar="YYYY-MM", help=f"First {_MONTHS_HELP}")
    ] = None,
    last_month: Annotated[
        str | None, typer.Option("--to", metavar="YYYY-MM", help=f"Last {_MONTHS_HELP}")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Dagster's run log.")] = False,
    extract_only: Annotated[
        bool, typer.Option("--extract-only", help="Only load new landing files into the warehouse.")
    ] = False,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            formats=["%Y-%m-%d"],
            help="Publish only periods complete by this date (and use the targets in effect then).",
        ),
    ] = None,
) -> None:
    """Run the pipeline through Dagster: load new landing files, compute, check and publish.

    Without --from/--to: every month (a full run).

    With --from/--to: one run of those month partitions, publishing them and the quarters/years they complete.

    Exit codes: 0 ok, 1 a period blocked or the run failed, 2 bad input or configuration.
    """
    from dagster_project.kpis.catalog import check_definitions
    from dagster_project.run.pipeline import PeriodError, RunInterrupted, month_window, run_pipeline
    from dagster_project.run.recovery import PoolBusyError

    settings = _settings(landing_dir, data_dir)
    if not settings.landing_dir.is_dir():
        err_console.print(
            f"[red]The landing folder {settings.landing_dir} does not exist.[/red] Point KPI_LANDING_DIR "
            "at a folder with one sub-folder per entity (docs/data_contract.md), or create sample data "
            "with `kpi sample-data`."
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    problems = check_definitions()
    if problems:  # a broken definition would fail deep inside dbt; say where it is instead
        _print_definition_problems(problems)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        window = month_window(settings, first_month, last_month)
    except (PeriodError, ValueError) as error:
        print_error(f"✗ --from/--to: {error}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    started = time.monotonic()
    progress = RunProgress(console)
    output_log = None if verbose else new_log_file(settings.data_dir / "logs")
    try:
        with progress, _other_output_to(output_log):
            summary = run_pipeline(
                settings,
                log_level="DEBUG" if verbose else "CRITICAL",
                extract_only=extract_only,
                as_of=as_of.date() if as_of else None,
                window=window,
                on_start=progress.start_run,
                on_event=progress.on_event,
                on_notice=print_warning,
            )
    except RunInterrupted as stop:
        print_error(
            f"✗ Stopped by {stop.signal_name}: "
            + (
                f"Dagster run {stop.run_id} was canceled, dbt was killed and the warehouse pool slot freed. "
                "The warehouse keeps its last commit (each file and each dbt model is one transaction); "
                "run `kpi run` again to finish."
                if stop.started
                else "before the run started (nothing was written)."
            )
        )
        if not stop.stopped:  # the run's thread is stuck in a blocking call: do not wait for it
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_FAILED)
        raise typer.Exit(EXIT_FAILED) from None
    except PoolBusyError as error:
        print_error(f"✗ {error}")
        raise typer.Exit(EXIT_FAILED) from None
    elapsed = time.monotonic() - started

    table = Table(title=f"Extraction (Dagster run {summary.run_id[:8]})", box=box.SIMPLE_HEAD)
    table.add_column("entity", no_wrap=True)
    for name in ("files", "skipped", "failed", "rows", "quarantined", "corrected"):
        table.add_column(name, justify="right", no_wrap=True)
    for e in summary.entities:
        if not e.ran:
            table.add_row(e.entity, "[dim]not run[/dim]", "", "", "", "", "")
            continue
        table.add_row(
            e.entity,
            str(e.files_loaded),
            str(e.files_skipped),
            f"[red]{e.files_failed}[/red]" if e.files_failed else "0",
            f"{e.rows_loaded:,}",
            f"[yellow]{e.rows_quarantined:,}[/yellow]" if e.rows_quarantined else "0",
            f"{e.rows_superseded:,}",
        )
    console.print(table)
    if summary.models_built or summary.checks_failed:
        console.print(
            f"dbt: {len(summary.models_built)} models built, {len(summary.checks_passed)} tests passed, "
            f"{len(summary.checks_warned)} warned, {len(summary.checks_failed)} failed"
        )
        for check in summary.checks_warned:
            console.print(f"  [yellow]! {check}[/yellow]")
        for check in summary.checks_failed:
            console.print(f"  [red]✗ {check}[/red]")
    console.print(f"Warehouse: {summary.warehouse_path}")
    console.print(
        "files/rows = newly loaded; skipped = files already loaded (same checksum); corrected = earlier "
        "rows replaced by a re-delivered key. Bad rows with their reasons: quarantine.<entity>; every "
        "file: audit.load_batches."
    )
    console.print(f"Dagster runs: DAGSTER_HOME={summary.dagster_home} (open the UI with `make dev`)")
    if output_log is not None and output_log.exists() and output_log.stat().st_size:
        print_text(f"dbt's output: {output_log} (on the console with --verbose)")
    _print_publications(summary)
    for line in summary.undelivered:  # a destination that failed: the run's outcome stays as it is
        print_text(f"! {printable(line)}", style="yellow")
    if summary.success and not summary.blocked and not summary.checks_failed:
        console.print(f"[green]Done in {elapsed:.1f} s.[/green]")
        return
    if summary.success and summary.checks_failed and not summary.publications:
        # A blocking check failed for every period: Dagster held the publish step back.
        console.print(
            f"[red]Nothing published: checks failed for every period ({', '.join(summary.checks_failed)}); "
            "the last good publication stays. See `kpi status` and audit.check_results.[/red]"
        )
        raise typer.Exit(EXIT_FAILED)
    if summary.success:  # the run worked; the gate held some periods back
        console.print(f"[yellow]Done in {elapsed:.1f} s; {len(summary.blocked)} period(s) blocked.[/yellow]")
        raise typer.Exit(EXIT_FAILED)
    for error in summary.errors:  # may name a landing file: its name is data, not markup
        print_error(f"✗ {printable(error)}")
    bad_input = any(e.files_failed for e in summary.entities)
    err_console.print(
        "[red]The run failed.[/red] Fix the files named above and run again; "
        "files already loaded are skipped."
    )
    raise typer.Exit(EXIT_BAD_INPUT if bad_input else EXIT_FAILED)


def new_log_file(folder: Path) -> Path:
    """A log file of its own for this run: its start time and PID name it, and a number is added
    when that name exists already (two runs in the same second)."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"kpi-run-{datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}"
    for number in range(1000):
        path = folder / (f"{stem}.log" if number == 0 else f"{stem}-{number}.log")
        try:
            path.touch(exist_ok=False)  # claimed: another run picking a name now gets the next one
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free log file name for {stem}")


@contextlib.contextmanager
def _other_output_to(log_file: Path | None) -> Iterator[None]:
    """Send what other code prints during a run (dagster-dbt echoes every dbt log line, ~300 per
    run) to `log_file`, while the console keeps drawing the progress bars and the summary where it
    did; None: leave it on the console (--verbose)."""
    if log_file is None:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    pinned = console.file  # the terminal, or the progress display's proxy for it
    console.file = pinned
    try:
        with log_file.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):
            yield
    finally:
        console.file = None  # back to following sys.stdout


class RunProgress:
    """Progress bars of a run, driven by its Dagster events: extraction (one step per entity), the dbt
    models and the checks (dbt tests and the quality gate)."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            TimeElapsedColumn(),
            console=console,
            transient=not console.is_terminal,  # in logs only the summary below matters
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def start_run(self, plan) -> None:
        months = (
            "every month"
            if plan.window is None
            else (f"{plan.window.first:%Y-%m} … {plan.window.last:%Y-%m}")
        )
        self.progress.console.print(f"Dagster run {plan.run_id[:8]}: {months}")
        for stage, total in (
            ("extract", plan.extract_assets),
            ("dbt", plan.dbt_assets),
            ("checks", plan.checks),
        ):
            if total:
                label = {"extract": "Extraction", "dbt": "dbt models", "checks": "Checks"}[stage]
                self.tasks[stage] = self.progress.add_task(label, total=total, current="")

    def on_event(self, event) -> None:
        kind = event.event_type_value
        if kind == "STEP_START" and event.step_key:
            stage = "extract" if event.step_key.startswith("raw__") else "dbt"
            if stage in self.tasks:
                self.progress.update(self.tasks[stage], current=event.step_key)
        elif kind == "ASSET_MATERIALIZATION":
            key = event.asset_key
            stage = "extract" if key.path[0] == "raw" else None if key.path[0] == "published" else "dbt"
            if stage in self.tasks:
                self.progress.update(self.tasks[stage], advance=1, current=key.to_user_string())
        elif kind == "ASSET_CHECK_EVALUATION" and "checks" in self.tasks:
            evaluation = event.event_specific_data
            mark = "✓" if evaluation.passed else "✗"
            self.progress.update(self.tasks["checks"], advance=1, current=f"{mark} {evaluation.check_name}")
        elif kind == "RUN_SUCCESS":
            for task in self.tasks.values():  # a month run builds fewer models than the whole graph
                self.progress.update(task, completed=self.progress.tasks[task].total, current="")


def _print_publications(summary) -> None:
    if not summary.publications:
        return
    counts = {
        o: sum(p.outcome == o for p in summary.publications) for o in ("published", "unchanged", "blocked")
    }
    console.print(
        f"Publication: {counts['published']} period(s) published, {counts['unchanged']} unchanged, "
        f"{counts['blocked']} blocked → {summary.published_path}"
    )
    colours = {"published": "green", "unchanged": "dim", "blocked": "red"}
    for period in summary.publications:
        if period.outcome == "unchanged":
            continue
        version = f" v{period.version}" if period.version else ""
        console.print(
            f"  [{colours[period.outcome]}]{period.outcome:9s}[/] {period.period_label:8s}{version}"
            + (f" — {period.reason}" if period.outcome == "blocked" else "")
        )
