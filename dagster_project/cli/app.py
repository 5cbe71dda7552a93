"""`kpi`: the command line. A thin layer over the functions the Dagster assets run.

Exit codes, the same for every command (README's command table):
0 ok; 1 blocked (a period held back by the quality gate, or a failed run); 2 bad input or
configuration (a bad environment variable, an unknown period, broken definitions, a bad option).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from dotenv import load_dotenv
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
    EXIT_OK,
    DataDirOption,
    LandingDirOption,
    _settings,
    console,
    err_console,
)
from dagster_project.cli.lineage import audit_app, lineage
from dagster_project.cli.report import report_command
from dagster_project.render.text import printable
from dagster_project.settings import PROJECT_ROOT

if TYPE_CHECKING:  # the kpis package is imported lazily: a fast start for every command
    from dagster_project.kpis.catalog import KpiCatalog

app = typer.Typer(
    pretty_exceptions_show_locals=False,
    help="KPI pipeline: extract sales, inventory and satisfaction data, compute KPIs, publish scorecards.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _read_dotenv() -> None:
    # Every command reads .env from the current folder, as `dagster dev` does; the environment wins.
    load_dotenv(Path.cwd() / ".env", override=False)


contract_app = typer.Typer(help="The source data contract of the landing folder.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")
app.command("lineage")(lineage)
app.add_typer(audit_app, name="audit")
_MONTHS_HELP = "month partition to compute and publish (YYYY-MM); the quarters and years the months belong to are recomputed too. Default: every month."


@app.command()
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
        err_console.print(
            f"✗ --from/--to: {error}", style="red", markup=False, highlight=False, soft_wrap=True
        )
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
                on_notice=lambda text: err_console.print(
                    text, style="yellow", markup=False, highlight=False, soft_wrap=True
                ),
            )
    except RunInterrupted as stop:
        err_console.print(
            f"✗ Stopped by {stop.signal_name}: "
            + (
                f"Dagster run {stop.run_id} was canceled, dbt was killed and the warehouse pool slot freed. "
                "The warehouse keeps its last commit (each file and each dbt model is one transaction); "
                "run `kpi run` again to finish."
                if stop.started
                else "before the run started (nothing was written)."
            ),
            style="red",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if not stop.stopped:  # the run's thread is stuck in a blocking call: do not wait for it
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(EXIT_FAILED)
        raise typer.Exit(EXIT_FAILED) from None
    except PoolBusyError as error:
        err_console.print(f"✗ {error}", style="red", markup=False, highlight=False, soft_wrap=True)
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
        # A path is never wrapped: it is copied from here.
        console.print(
            f"dbt's output: {output_log} (on the console with --verbose)", markup=False, soft_wrap=True
        )
    _print_publications(summary)
    for line in summary.undelivered:  # a destination that failed: the run's outcome stays as it is
        console.print(f"! {printable(line)}", style="yellow", markup=False, highlight=False, soft_wrap=True)
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
        err_console.print(f"✗ {printable(error)}", style="red", markup=False, highlight=False, soft_wrap=True)
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


@app.command("sample-data")
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


definitions_app = typer.Typer(help="The KPI definitions in kpi_definitions/.", no_args_is_help=True)
app.add_typer(definitions_app, name="definitions")
DefinitionsDirOption = Annotated[
    Path | None,
    typer.Option("--definitions-dir", help="KPI definitions folder (default: kpi_definitions/)."),
]


def _print_definition_problems(problems: list) -> None:
    # soft_wrap and no markup: one problem per line, and `[...]` in a message is not taken as markup.
    for problem in problems:
        err_console.print(f"✗ {problem}", style="red", markup=False, highlight=False, soft_wrap=True)
    err_console.print(
        f"{len(problems)} problem(s) in the KPI definitions. Fix them in the files named above "
        "and run `kpi definitions check` again."
    )


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
                err_console.print(
                    f"✗ {path}: not what the definitions generate (stale or edited by hand)",
                    style="red",
                    markup=False,
                    highlight=False,
                    soft_wrap=True,
                )
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
        err_console.print(
            f"✗ no dbt project at {project}: the definitions folder must sit beside dbt_project/",
            style="red",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        written = write_models(project, catalog)
    except KpiCompileError as error:
        _print_compile_error(error)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    for path in written:
        console.print(f"Updated {path}.", markup=False, highlight=False, soft_wrap=True)
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
    err_console.print(f"✗ {error}", style="red", markup=False, highlight=False, soft_wrap=True)
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


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    data_dir: DataDirOption = None,
) -> None:
    """Start the Dagster UI on localhost with the pipeline's persistent DAGSTER_HOME."""
    from dagster_project.defs.transform import prepare_dbt
    from dagster_project.run.pipeline import prepare_dagster_home
    from dagster_project.run.recovery import recover_dead_runs

    settings = _settings(data_dir=data_dir)
    os.environ.update(settings.environment())  # for the UI's runs, and dbt under them
    # The code server Dagster starts must find dbt (and mf) from this environment.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    os.umask(settings.umask)  # the UI's runs create their files as `kpi run` does (KPI_UMASK)
    recover_dead_runs(prepare_dagster_home(settings))  # slots of runs killed since the last start
    prepare_dbt()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "--host", "127.0.0.1", "--port", str(port)]
    console.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={settings.dagster_home})")
    raise typer.Exit(run_process_group(command, cwd=PROJECT_ROOT))


# After SIGTERM/SIGINT, how long `dagster dev` and its processes get before SIGKILL.
STOP_GRACE_SECONDS = 10.0


def run_process_group(command: list[str], cwd: Path) -> int:
    """Run `command` in a process group of its own and return its exit code. SIGINT (Ctrl-C) or
    SIGTERM to this process stops the whole group (`dagster dev` and the webserver, daemon and
    code servers it starts): SIGTERM to the group, SIGKILL to what is left after
    STOP_GRACE_SECONDS; then returns 0."""
    import signal

    process = subprocess.Popen(command, cwd=cwd, start_new_session=True)
    stop = {"signal": None}

    def handler(signo: int, _frame: object) -> None:
        stop["signal"] = signo

    saved = {signo: signal.signal(signo, handler) for signo in (signal.SIGINT, signal.SIGTERM)}
    try:
        while stop["signal"] is None:
            try:
                return process.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and (process.poll() is None or _group_alive(process.pid)):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return EXIT_OK
    finally:
        for signo, previous in saved.items():
            signal.signal(signo, previous)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` still runs (zombies, already ended, do not count)."""
    import psutil

    for process in psutil.process_iter(["status"]):
        with contextlib.suppress(psutil.Error):
            if process.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(process.pid) == pgid:
                return True
    return False


@app.command()
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
    from dagster_project.render.terminal import ReportError, scorecard_report

    settings = _settings(data_dir=data_dir)
    try:
        report = scorecard_report(settings.data_dir, period, grain=grain, org=org, lang=lang)
    except ReportError as error:
        err_console.print(f"✗ {error}", style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console.print(report)


@app.command()
def status(
    data_dir: DataDirOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Publications and blocked attempts to show.")
    ] = 10,
) -> None:
    """Show the publication log: latest publications, blocked attempts and why, a one-line summary."""
    from dagster_project.render.terminal import ReportError, status_report

    settings = _settings(data_dir=data_dir)
    try:
        report = status_report(settings.data_dir, limit=limit)
    except ReportError as error:
        err_console.print(f"✗ {error}", style="red", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    console.print(report)


app.command("report")(report_command)

if __name__ == "__main__":
    app()
