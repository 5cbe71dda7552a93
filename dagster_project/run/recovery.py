"""Recover from runs that died: free the warehouse pool slots they hold and mark them failed.

Every step that writes the warehouse runs in the Dagster pool `duckdb_warehouse` (limit 1). A run
killed with kill -9 (or stopped by a full disk, an OOM kill, a power cut) never frees its slot:
Dagster keeps the claim in its run history and every later run waits for it for ever. Dagster does
not know whether a run's process is alive, so `kpi run` records it: every run it starts carries
the tags `kpi/owner_pid`, `kpi/owner_started` (the process's start time, so a re-used PID is not
mistaken for the owner), `kpi/owner_host` and `kpi/owner_run` (its own id: a re-execution that
copied them from its parent is not judged by them). Runs started by `dagster dev` (UI, schedules,
sensors) are judged by the PID of Dagster's engine events ("Executing steps in process (pid: …)").

Before a run starts, `recover_dead_runs` looks at every run that holds or waits for a pool slot,
and every run still marked in progress: a run whose owner process is gone (on this host) gets its
slots freed and is marked FAILURE with a message saying so; a run that no longer exists or has
already finished only has its slots freed. A run whose owner is alive, or cannot be told, is left
alone: `wait_for_pool` then waits for it, saying which run holds the slot, for at most
`KPI_POOL_WAIT_SECONDS`, and checks again on every poll whether the holder died meanwhile.
docs/operations.md ("Recovery after a crash") is the operator's side of this.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
from dagster._core.events import DagsterEventType
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

OWNER_PID_TAG = "kpi/owner_pid"
OWNER_STARTED_TAG = "kpi/owner_started"
OWNER_HOST_TAG = "kpi/owner_host"
# The run the owner tags were written for: a re-execution from the UI copies its parent's tags,
# and must not be judged by the parent's (dead) process.
OWNER_RUN_TAG = "kpi/owner_run"

# The names dbt runs under (defs/transform.py: kpi-dbt, which becomes dbt).
DBT_EXECUTABLES = ("kpi-dbt", "dbt")

_IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


class PoolBusyError(RuntimeError):
    """The warehouse pool stayed held by a live run for longer than the configured wait."""


@dataclass(frozen=True)
class RecoveredRun:
    run_id: str
    reason: str  # what was wrong with it
    marked_failed: bool


def owner_tags(run_id: str) -> dict[str, str]:
    """The tags that name this process as the owner of run `run_id`."""
    return {
        OWNER_RUN_TAG: run_id,
        OWNER_PID_TAG: str(os.getpid()),
        OWNER_STARTED_TAG: f"{psutil.Process().create_time():.2f}",
        OWNER_HOST_TAG: socket.gethostname(),
    }


def process_alive(pid: int, started: float | None = None) -> bool:
    """Whether process `pid` runs (and, with `started`, is the process that started then)."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # it exists; someone else's
        return True


def _owner_pids(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[int]:
    """The PIDs of the processes that ran `run`, from Dagster's engine events."""
    pids = set()
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and str(pid.value).isdigit():  # Dagster records it as text
            pids.add(int(pid.value))
    return sorted(pids)


def _owner_alive(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool | None:
    """True/False: the run's owner process is alive/gone; None: it cannot be told from here."""
    tags = run.tags
    if OWNER_PID_TAG in tags and tags.get(OWNER_RUN_TAG) == run.run_id:
        if tags.get(OWNER_HOST_TAG, socket.gethostname()) != socket.gethostname():
            return None  # a process on another machine sharing the Dagster home
        try:
            pid = int(tags[OWNER_PID_TAG])
            started = float(tags[OWNER_STARTED_TAG]) if OWNER_STARTED_TAG in tags else None
        except ValueError:
            return None
        return process_alive(pid, started)
    pids = _owner_pids(instance, run)
    if not pids:
        return None
    return any(process_alive(pid) for pid in pids)


def recover_dead_runs(instance: dg.DagsterInstance) -> list[RecoveredRun]:
    """Free the pool slots of runs whose process is gone and mark those runs failed (see above)."""
    storage = instance.event_log_storage
    slot_runs = storage.get_concurrency_run_ids() if storage.supports_global_concurrency_limits else set()
    candidates = {run_id: instance.get_run_by_id(run_id) for run_id in slot_runs}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=_IN_PROGRESS)):
        candidates.setdefault(run.run_id, run)
    recovered = []
    for run_id, run in candidates.items():
        if run is None:
            storage.free_concurrency_slots_for_run(run_id)
            recovered.append(RecoveredRun(run_id, "the run no longer exists; its pool slot was freed", False))
            continue
        if run.is_finished:
            if run_id in slot_runs:
                storage.free_concurrency_slots_for_run(run_id)
                recovered.append(
                    RecoveredRun(
                        run_id, f"the run had ended ({run.status.value}); its pool slot was freed", False
                    )
                )
            continue
        if _owner_alive(instance, run) is not False:
            continue
        own_tags = run.tags.get(OWNER_RUN_TAG) == run_id
        pid = (
            (own_tags and run.tags.get(OWNER_PID_TAG))
            or ", ".join(map(str, _owner_pids(instance, run)))
            or "?"
        )
        message = (
            f"The process that ran this run (pid {pid}) died without finishing it (killed, out of memory "
            "or a full disk?). A later run found it and marked it failed"
            + (" and freed its warehouse pool slot." if run_id in slot_runs else ".")
            + " Work the run committed stays (each file and each dbt model is one transaction); "
            "the next run redoes the rest."
        )
        storage.free_concurrency_slots_for_run(run_id)
        instance.report_run_failed(run, message=message)
        recovered.append(RecoveredRun(run_id, f"its process (pid {pid}) is gone: marked failed", True))
    return recovered


def pool_holders(instance: dg.DagsterInstance, pool: str, exclude_run: str | None = None) -> list[str]:
    """The runs that hold every slot of `pool` (empty: a slot is free, or the pool has no limit)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    info = storage.get_concurrency_info(pool)
    claimed = [slot for slot in info.claimed_slots if slot.run_id != exclude_run]
    if not info.slot_count or len(claimed) < info.slot_count:
        return []
    return [f"run {slot.run_id} (step {slot.step_key})" for slot in claimed]


def wait_for_pool(
    instance: dg.DagsterInstance,
    pool: str,
    timeout_seconds: float,
    on_wait: Callable[[str], None] | None = None,
    poll_seconds: float = 1.0,
) -> list[RecoveredRun]:
    """Recover dead runs, then wait (at most `timeout_seconds`) until `pool` has a free slot,
    telling `on_wait` once what it waits for. Raises PoolBusyError when the wait runs out."""
    recovered = recover_dead_runs(instance)
    deadline = time.monotonic() + timeout_seconds
    told = None
    while holders := pool_holders(instance, pool):
        if time.monotonic() >= deadline:
            raise PoolBusyError(
                f"The warehouse pool {pool!r} is still held by {', '.join(holders)} after "
                f"{timeout_seconds:g} s (KPI_POOL_WAIT_SECONDS). That run is alive; let it finish, or stop "
                "it (Dagster UI: Runs → Terminate) and run again."
            )
        if on_wait is not None and holders != told:
            on_wait(
                f"Waiting for the warehouse pool {pool!r}: held by {', '.join(holders)}, whose process is "
                f"alive; waiting up to {timeout_seconds:g} s (KPI_POOL_WAIT_SECONDS)."
            )
            told = holders
        time.sleep(poll_seconds)
        recovered += recover_dead_runs(instance)
    return recovered


def _interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    # Dagster 1.13 returns min(0, …), never more than 0: the executor then polls the slot table
    # without sleeping (one core at ~100% while a run waits for a slot). Sleep until the next check.
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    now = time.time()
    return max(0.0, min(ready_at - now for ready_at in self._pending_timeouts.values()))


def install_claim_wait_fix() -> None:
    """Make a run that waits for a pool slot sleep between polls instead of spinning (idempotent)."""
    InstanceConcurrencyContext.interval_to_next_pending_claim_check = _interval_to_next_pending_claim_check  # type: ignore[method-assign]


def kill_children(grace_seconds: float) -> None:
    """End the dbt processes this process started (and whatever they started): SIGTERM, then
    SIGKILL for those still there after `grace_seconds`. Other children (Python's multiprocessing
    resource tracker, say) are left to end with this process."""
    children = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if any(Path(part).name in DBT_EXECUTABLES for part in child.cmdline()[:2]):
                children += [child, *child.children(recursive=True)]
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill() if grace_seconds <= 0 else child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace_seconds or 0.5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
