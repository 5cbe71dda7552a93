"""Run the Dagster job from the command line (`kpi run`) and summarise what it did (run/summary.py).

The CLI is a thin layer over this module; the work itself happens in the Dagster assets, so a
run started here shows up in `dagster dev` like any other (same persistent DAGSTER_HOME).
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import dagster as dg
import yaml
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.utils import make_new_run_id

from dagster_project.audit.openlineage import deliver_lineage, emit_run_lineage
from dagster_project.contract import load_contract
from dagster_project.definitions import PIPELINE_JOB, build_definitions
from dagster_project.defs.extract import raw_asset_key
from dagster_project.defs.partitions import partition_range_tags
from dagster_project.defs.publish import REASON_TAG
from dagster_project.defs.resources import WAREHOUSE_POOL
from dagster_project.defs.transform import PARTITIONED_STEP, UNPARTITIONED_STEP, prepare_dbt
from dagster_project.outbound import redact, undelivered
from dagster_project.periods import MonthWindow, month_key, parse_month
from dagster_project.run.recovery import (
    PoolBusyError,
    install_claim_wait_fix,
    kill_children,
    owner_tags,
    pool_holders,
    recover_dead_runs,
    wait_for_pool,
)
from dagster_project.run.run_log_storage import prune_run_history, relax_run_history_fsync
from dagster_project.run.summary import RunSummary, summarise_run
from dagster_project.settings import Settings, environment_overrides, private_files

# Instance settings written to a new DAGSTER_HOME: no telemetry, and one op at a time in the
# warehouse pool across runs (DuckDB has one writer per file).
DAGSTER_YAML = {
    "telemetry": {"enabled": False},
    "concurrency": {"pools": {"default_limit": 1}},
}
# The storage block of dagster.yaml (run_log_storage.py): Dagster's SQLite layout in the home folder.
STORAGE_MODULE, STORAGE_CLASS = "dagster_project.run.run_log_storage", "KpiSqliteStorage"


class PeriodError(ValueError):
    """A month range outside the month partitions (`kpi run` exits with code 2)."""


class RunInterrupted(Exception):
    """`kpi run` got SIGINT (Ctrl-C) or SIGTERM: the run was stopped, dbt killed, the run marked
    canceled and its pool slot freed. `stopped` is False when the run's thread did not end in
    time (the caller then exits the process at once)."""

    def __init__(self, run_id: str, signal_name: str, stopped: bool, started: bool = True) -> None:
        super().__init__(f"{signal_name}: run {run_id} stopped")
        self.run_id, self.signal_name, self.stopped, self.started = run_id, signal_name, stopped, started


@dataclass(frozen=True)
class RunPlan:
    """What a run is going to do, for progress bars: its id and the number of assets per stage."""

    run_id: str
    extract_assets: int
    dbt_assets: int
    checks: int
    window: MonthWindow | None  # None: every month


def month_window(settings: Settings, first: str | None, last: str | None) -> MonthWindow | None:
    """The months `kpi run --from/--to` asks for, checked against the partitions; None: every month.
    One bound alone means that month to the last partition (--from) or from the first (--to)."""
    if first is None and last is None:
        return None
    partitions = build_definitions(settings).resolve_job_def(PIPELINE_JOB).partitions_def
    keys = partitions.get_partition_keys()
    window = MonthWindow(parse_month(first or keys[0]), parse_month(last or keys[-1]))
    for month in (window.first, window.last):
        if month_key(month) not in keys:
            raise PeriodError(
                f"{month_key(month)} is not a month partition: months run from {keys[0]} (KPI_FIRST_MONTH) "
                f"to {keys[-1]}, the last month that has ended"
            )
    return window


def prepare_dagster_home(settings: Settings) -> dg.DagsterInstance:
    """A persistent Dagster instance under the data folder (or the user's DAGSTER_HOME)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config_file = home / "dagster.yaml"
    wanted = {
        **DAGSTER_YAML,
        "storage": {
            "custom": {
                "module": STORAGE_MODULE,
                "class": STORAGE_CLASS,
                "config": {"base_dir": str(home.resolve())},
            }
        },
    }
    current = yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file.exists() else None
    # Ours to (re)write: a missing file, an earlier version of ours (no storage block) and ours for a
    # folder that has moved; a dagster.yaml of the user's own is left as it is.
    storage = (current or {}).get("storage", {}).get("custom", {})
    if (
        current is None
        or current == DAGSTER_YAML
        or (storage.get("class") == STORAGE_CLASS and current != wanted)
    ):
        config_file.write_text(yaml.safe_dump(wanted, sort_keys=False), encoding="utf-8")
    relax_run_history_fsync(home)  # also for a dagster.yaml of the user's own (SQLite files here)
    return dg.DagsterInstance.from_config(str(home))


def run_pipeline(
    settings: Settings,
    log_level: str = "WARNING",
    extract_only: bool = False,
    as_of: date | None = None,
    window: MonthWindow | None = None,
    on_start: Callable[[RunPlan], None] | None = None,
    on_event: Callable[[dg.DagsterEvent], None] | None = None,
    on_notice: Callable[[str], None] | None = None,
) -> RunSummary:
    """Materialize the pipeline once, through Dagster, and return what it did.

    `log_level` is for the console only; the run's full event log is kept in DAGSTER_HOME.
    `extract_only` materializes just the extract assets (load new landing files, nothing else).
    `as_of` makes only the periods ending by that date complete (and the target clock that date).
    `window` runs those month partitions (and the quarters and years they belong to) in one run;
    None runs every month partition, a full run. `on_start` receives the run's plan and `on_event`
    every Dagster event of the run as it happens (for progress bars), from a helper thread;
    `on_notice` what the run waits for or recovered (run_recovery.py) before it starts.

    Before the run: runs whose process died are marked failed and their warehouse pool slots
    freed; a slot held by a live run is waited for, at most `settings.pool_wait_seconds`
    (PoolBusyError). On the main thread, SIGINT and SIGTERM stop the run (RunInterrupted).
    """
    # dbt runs as a subprocess and reads the environment; files and folders are the owner's only
    with private_files(settings), environment_overrides(settings.environment()):
        instance = prepare_dagster_home(settings)
        prepare_dbt()
        definitions = build_definitions(settings)
        job = definitions.resolve_job_def(PIPELINE_JOB)
        keys = job.partitions_def.get_partition_keys()
        months = window or MonthWindow(parse_month(keys[0]), parse_month(keys[-1]))
        tags = {} if extract_only else partition_range_tags(months)
        if window is not None and not extract_only:
            tags[REASON_TAG] = f"kpi run --from {month_key(window.first)} --to {month_key(window.last)}"
        step_config = {"config": {"as_of": as_of.isoformat()}} if as_of else None
        run_id = make_new_run_id()
        tags.update(owner_tags(run_id))  # who runs it: a later run can tell when this process died
        prune_run_history(instance, settings.run_history_days)
        try:
            with _interrupts_raised():
                recovered = wait_for_pool(instance, WAREHOUSE_POOL, settings.pool_wait_seconds, on_notice)
        except _Interrupt as interrupt:  # nothing started yet
            raise RunInterrupted(run_id, interrupt.signal_name, stopped=True, started=False) from None
        for run in recovered:
            if on_notice is not None:
                on_notice(f"Recovered Dagster run {run.run_id}: {run.reason}.")
        if on_start is not None:
            on_start(_plan(definitions, run_id, extract_only, window))
        with _forward_events(instance, run_id, on_event):
            result = _execute_interruptibly(
                instance,
                run_id,
                settings.pool_wait_seconds,
                on_notice,
                lambda: job.execute_in_process(
                    instance=instance,
                    run_id=run_id,
                    raise_on_error=False,
                    tags=tags,
                    asset_selection=[raw_asset_key(name) for name in load_contract().entities]
                    if extract_only
                    else None,
                    run_config={
                        "loggers": {"console": {"config": {"log_level": log_level}}},
                        **(
                            {"ops": {UNPARTITIONED_STEP: step_config, PARTITIONED_STEP: step_config}}
                            if step_config and not extract_only
                            else {}
                        ),
                    },
                ),
            )
        summary = summarise_run(result, settings)
        summary.recovered = recovered
        lineage_error = None
        try:
            emit_run_lineage(instance, result.run_id, settings.data_dir, settings.outbound)
            deliver_lineage(settings.data_dir, settings.outbound)  # bounded in time, never raises
        except Exception as error:  # lineage must not change the run's outcome; say what went wrong
            lineage_error = f"OpenLineage events not written: {redact(f'{type(error).__name__}: {error}')}"
        summary.undelivered = undelivered(settings.data_dir, settings.outbound) + (
            [lineage_error] if lineage_error else []
        )
    return summary


class _Interrupt(BaseException):
    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextmanager
def _interrupts_raised() -> Iterator[None]:
    """On the main thread: SIGINT and SIGTERM raise _Interrupt here (Dagster, running the job in
    another thread, then installs no handlers of its own); elsewhere: nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signo: int, _frame: object) -> None:
        raise _Interrupt(signal.Signals(signo).name)

    saved = {signo: signal.signal(signo, handler) for signo in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signo, previous in saved.items():
            signal.signal(signo, previous)


# How long a stopped run may take to end (dbt gets SIGTERM, then SIGKILL), and how often the
# run's own wait for a pool slot is looked at.
STOP_TIMEOUT_SECONDS = 10.0
CLAIM_CHECK_SECONDS = 5.0


def _execute_interruptibly(
    instance: dg.DagsterInstance,
    run_id: str,
    pool_wait_seconds: float,
    on_notice: Callable[[str], None] | None,
    execute: Callable[[], dg.ExecuteInProcessResult],
) -> dg.ExecuteInProcessResult:
    """Run `execute` in a worker thread; this thread answers SIGINT/SIGTERM within seconds (stops
    the run: RunInterrupted) and watches the run's own claims on the warehouse pool: a holder that
    died is recovered, a live one named, and a wait longer than `pool_wait_seconds` ends the run
    (PoolBusyError)."""
    install_claim_wait_fix()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["result"] = execute()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="kpi-run", daemon=True)
    waiting_since: float | None = None
    told: list[str] = []
    with _interrupts_raised():
        try:
            thread.start()
            next_check = time.monotonic() + CLAIM_CHECK_SECONDS
            while thread.is_alive():
                thread.join(0.2)
                if time.monotonic() < next_check or not thread.is_alive():
                    continue
                next_check = time.monotonic() + CLAIM_CHECK_SECONDS
                if not _waits_for_slot(instance, run_id):
                    waiting_since = None
                    continue
                waiting_since = waiting_since or time.monotonic()
                recover_dead_runs(instance)
                holders = pool_holders(instance, WAREHOUSE_POOL, exclude_run=run_id)
                if holders and holders != told and on_notice is not None:
                    on_notice(
                        f"Waiting for the warehouse pool {WAREHOUSE_POOL!r}: held by {', '.join(holders)}."
                    )
                    told = holders
                if time.monotonic() - waiting_since > pool_wait_seconds:
                    _stop_run(instance, run_id, thread, f"waited over {pool_wait_seconds} s for the pool")
                    raise PoolBusyError(
                        f"The warehouse pool {WAREHOUSE_POOL!r} stayed held by {', '.join(holders) or 'another run'} "
                        f"for over {pool_wait_seconds} s (KPI_POOL_WAIT_SECONDS); run {run_id} was stopped."
                    )
        except _Interrupt as interrupt:
            with _interrupts_ignored():
                stopped = _stop_run(instance, run_id, thread, f"kpi run received {interrupt.signal_name}")
            raise RunInterrupted(run_id, interrupt.signal_name, stopped) from None
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """A second Ctrl-C while a run is being stopped does not cut the clean-up short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {signo: signal.signal(signo, signal.SIG_IGN) for signo in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signo, previous in saved.items():
            signal.signal(signo, previous)


def _waits_for_slot(instance: dg.DagsterInstance, run_id: str) -> bool:
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    return any(step.run_id == run_id and step.assigned_timestamp is None for step in info.pending_steps)


def _stop_run(instance: dg.DagsterInstance, run_id: str, thread: threading.Thread, why: str) -> bool:
    """Stop the run in `thread`: kill dbt (and any other child process), interrupt the run's
    Python code, then make sure the run is marked ended and its pool slots are free. Returns
    whether the thread ended within STOP_TIMEOUT_SECONDS."""
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    kill_children(grace_seconds=2.0)
    while thread.is_alive() and time.monotonic() < deadline:
        # Raised in the run's thread at its next Python instruction; Dagster turns it into a
        # failed step and run. Repeated: code in a `finally` may have swallowed the first.
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident or 0), ctypes.py_object(DagsterExecutionInterruptedError)
        )
        thread.join(1.0)
        kill_children(grace_seconds=0.0)
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(
            run, message=f"Stopped: {why}. dbt was killed; the warehouse keeps its last commit."
        )
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    return not thread.is_alive()


def _plan(
    definitions: dg.Definitions, run_id: str, extract_only: bool, window: MonthWindow | None
) -> RunPlan:
    graph = definitions.resolve_asset_graph()
    extract = [
        key for key in graph.get_all_asset_keys() if key.path[0] == "raw" and graph.get(key).is_materializable
    ]
    dbt_keys = [
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and "dbt" in (graph.get(key).kinds or set())
    ]
    return RunPlan(
        run_id=run_id,
        extract_assets=len(extract),
        dbt_assets=0 if extract_only else len(dbt_keys),
        checks=0 if extract_only else len(list(graph.asset_check_keys)),
        window=window,
    )


@contextmanager
def _forward_events(
    instance: dg.DagsterInstance, run_id: str, on_event: Callable[[dg.DagsterEvent], None] | None
) -> Iterator[None]:
    """Pass the run's Dagster events to `on_event` while it runs: a thread reads the event log."""
    if on_event is None:
        yield
        return
    stop = threading.Event()

    def forward() -> None:
        cursor = None
        while True:
            finished = stop.is_set()  # read once more after the run ended, then stop
            connection = instance.get_records_for_run(run_id, cursor=cursor)
            cursor = connection.cursor
            for record in connection.records:
                if record.event_log_entry.dagster_event is not None:
                    on_event(record.event_log_entry.dagster_event)
            if finished and not connection.has_more:
                return
            if not connection.has_more:
                stop.wait(0.25)

    thread = threading.Thread(target=forward, name="kpi-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
