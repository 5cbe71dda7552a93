"""Recovery after a crash (issue 13 item 1): stale pool claims, dbt that outlives its parent,
`kpi run` that must answer SIGTERM, and kill -9 at a stage followed by a run that completes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.utils import make_new_run_id

from dagster_project.defs.resources import WAREHOUSE_POOL, build_dbt_resource
from dagster_project.run.pipeline import prepare_dagster_home
from dagster_project.run.recovery import (
    PoolBusyError,
    install_claim_wait_fix,
    owner_tags,
    recover_dead_runs,
    wait_for_pool,
)
from dagster_project.settings import Settings

KPI = str(Path(sys.executable).with_name("kpi"))


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _instance(tmp_path: Path) -> dg.DagsterInstance:
    settings = dataclasses.replace(Settings.from_env(), dagster_home=tmp_path / "dagster_home")
    return prepare_dagster_home(settings)


def _plant_claim(instance: dg.DagsterInstance, tags: dict[str, str], run_id: str | None = None) -> str:
    """A run marked STARTED that holds the warehouse pool's one slot, as kill -9 leaves it."""
    run_id = run_id or tags.get("kpi/owner_run") or make_new_run_id()
    instance.add_run(
        dg.DagsterRun(job_name="kpi_pipeline", run_id=run_id, tags=tags, status=dg.DagsterRunStatus.STARTED)
    )
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, "raw__sales_lines").is_claimed
    return run_id


def _wait_until(condition: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.1)


def test_a_dead_runs_slot_is_freed_and_the_run_marked_failed(tmp_path: Path) -> None:
    instance = _instance(tmp_path)
    tags = {**owner_tags(make_new_run_id()), "kpi/owner_pid": str(_dead_pid())}
    stale = _plant_claim(instance, tags)
    storage = instance.event_log_storage
    # Before: the slot is taken, so a new run's claim is refused (and Dagster would wait forever).
    assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, "next-run", "raw__sales_lines").is_claimed
    storage.free_concurrency_slots_for_run("next-run")

    recovered = wait_for_pool(instance, WAREHOUSE_POOL, timeout_seconds=5)

    assert [r.run_id for r in recovered] == [stale] and recovered[0].marked_failed
    run = instance.get_run_by_id(stale)
    assert run.status == dg.DagsterRunStatus.FAILURE
    (failure,) = instance.all_logs(stale, of_type=dg.DagsterEventType.RUN_FAILURE)
    assert "died" in failure.message and "freed its warehouse pool slot" in failure.message
    assert storage.get_concurrency_info(WAREHOUSE_POOL).active_slot_count == 0
    assert storage.claim_concurrency_slot(WAREHOUSE_POOL, "next-run", "raw__sales_lines").is_claimed


def test_a_reused_pid_does_not_make_a_dead_run_look_alive(tmp_path: Path) -> None:
    instance = _instance(tmp_path)
    # This process is alive, but it started at another time than the planted run's owner.
    tags = {**owner_tags(make_new_run_id()), "kpi/owner_started": "1000.00"}
    stale = _plant_claim(instance, tags)
    assert [r.run_id for r in recover_dead_runs(instance)] == [stale]


def test_a_run_started_elsewhere_is_judged_by_the_pid_of_its_engine_events(tmp_path: Path) -> None:
    """Runs from the UI (or an older `kpi run`) have no owner tags: the PID Dagster logged counts."""
    from dagster._core.events import EngineEventData

    instance = _instance(tmp_path)
    stale = _plant_claim(instance, {})
    dead = _dead_pid()
    instance.report_engine_event(
        "Executing steps in process", instance.get_run_by_id(stale), EngineEventData.in_process(dead)
    )
    (recovered,) = recover_dead_runs(instance)
    assert recovered.run_id == stale and f"pid {dead}" in recovered.reason
    assert instance.get_run_by_id(stale).status == dg.DagsterRunStatus.FAILURE


def test_a_re_execution_is_not_judged_by_its_parents_owner_tags(tmp_path: Path) -> None:
    """The UI copies a run's tags to its re-execution: the dead parent's PID must not fail it."""
    instance = _instance(tmp_path)
    parent_tags = {**owner_tags(make_new_run_id()), "kpi/owner_pid": str(_dead_pid())}
    child = _plant_claim(instance, parent_tags, run_id=make_new_run_id())
    assert recover_dead_runs(instance) == []
    assert instance.get_run_by_id(child).status == dg.DagsterRunStatus.STARTED


def test_a_live_holder_is_waited_for_named_and_bounded(tmp_path: Path) -> None:
    instance = _instance(tmp_path)
    holder = _plant_claim(instance, owner_tags(make_new_run_id()))  # this very process: alive
    told: list[str] = []
    started = time.monotonic()
    with pytest.raises(PoolBusyError, match=holder):
        wait_for_pool(instance, WAREHOUSE_POOL, timeout_seconds=1, on_wait=told.append, poll_seconds=0.2)
    assert time.monotonic() - started < 5
    assert len(told) == 1 and holder in told[0] and "KPI_POOL_WAIT_SECONDS" in told[0]
    assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.STARTED  # left alone


def test_a_run_waiting_for_a_slot_sleeps_between_polls() -> None:
    """Dagster 1.13 returned min(0, …): the executor polled without sleeping, ~100% CPU."""
    install_claim_wait_fix()
    context = InstanceConcurrencyContext.__new__(InstanceConcurrencyContext)
    context._pending_claims = {"step"}
    context._pending_timeouts = {"step": time.time() + 3}
    assert 2 < context.interval_to_next_pending_claim_check() <= 3


def test_dbt_runs_through_the_wrapper_that_dies_with_its_parent() -> None:
    assert Path(build_dbt_resource().dbt_executable).name == "kpi-dbt"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("wrapped", [True, False])
def test_the_dbt_wrapper_child_dies_when_its_parent_is_killed(wrapped: bool) -> None:
    """The wrapper execs its command (here `sleep`, standing in for dbt) with PDEATHSIG set; a child
    started without it (as dagster-dbt started dbt before) survives its parent's kill -9."""
    child = (
        [
            sys.executable,
            "-c",
            "from dagster_project.run.dbt_child import exec_with_parent; exec_with_parent(['sleep', '60'])",
        ]
        if wrapped
        else ["sleep", "60"]
    )
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess; p = subprocess.Popen({child!r}); print(p.pid, flush=True); p.wait()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid = int(parent.stdout.readline())
    process = psutil.Process(pid)
    _wait_until(lambda: process.name() == "sleep", 10, "the child exec'd its command")
    parent.kill()
    parent.wait()
    try:
        if wrapped:
            _wait_until(
                lambda: not psutil.pid_exists(pid) or process.status() == psutil.STATUS_ZOMBIE,
                5,
                "child died",
            )
        else:
            time.sleep(0.5)
            assert process.is_running() and process.ppid() != parent.pid  # orphaned, still running
    finally:
        if process.is_running():
            process.kill()


def test_the_dbt_wrapper_exits_when_its_parent_died_before_it_could_ask_to_die_with_it() -> None:
    """kill -9 between the fork and prctl: the wrapper's parent is no longer the process that
    started it (KPI_DBT_PARENT_PID), so it exits instead of running dbt as an orphan."""
    wrapper = "from dagster_project.run.dbt_child import exec_with_parent; exec_with_parent(['sleep', '60'])"
    env = os.environ | {"KPI_DBT_PARENT_PID": str(_dead_pid())}
    done = subprocess.run([sys.executable, "-c", wrapper], env=env, timeout=30)
    assert done.returncode == 128 + signal.SIGKILL


def test_stopping_a_run_kills_its_dbt_child_only(tmp_path: Path) -> None:
    from dagster_project.run.recovery import kill_children

    (tmp_path / "dbt").write_text("#!/bin/sh\nsleep 60\n")  # a process named dbt, with a child
    (tmp_path / "dbt").chmod(0o755)
    dbt = subprocess.Popen([str(tmp_path / "dbt")])
    _wait_until(lambda: psutil.Process(dbt.pid).children(), 5, "dbt started its child")
    (grandchild,) = psutil.Process(dbt.pid).children()
    other = subprocess.Popen(["sleep", "60"])  # e.g. multiprocessing's resource tracker
    try:
        kill_children(grace_seconds=1.0)
        dbt.wait(timeout=5)  # ended
        _wait_until(
            lambda: not grandchild.is_running() or grandchild.status() == psutil.STATUS_ZOMBIE, 5, "gone"
        )
        assert other.poll() is None
    finally:
        dbt.kill()
        other.kill()


def _kpi_env(landing: Path, data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    return env | {"KPI_LANDING_DIR": str(landing), "KPI_DATA_DIR": str(data), **extra}


def test_kpi_run_answers_sigterm_while_it_waits_for_the_pool(tmp_path: Path, landing: Path) -> None:
    """A live run holds the pool: `kpi run` says it waits for it, and SIGTERM ends it within seconds."""
    data = tmp_path / "data"
    settings = dataclasses.replace(Settings.from_env(), dagster_home=data / "dagster_home")
    instance = prepare_dagster_home(settings)
    holder = _plant_claim(instance, owner_tags(make_new_run_id()))  # this test's process: alive
    process = subprocess.Popen(
        [KPI, "run", "--extract-only"],
        env=_kpi_env(landing, data),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while not any("Waiting for the warehouse pool" in line for line in lines):
        line = process.stdout.readline()
        assert line or process.poll() is None, "".join(lines)
        lines.append(line)
        assert time.monotonic() < deadline, "".join(lines)
    assert holder in "".join(lines)
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    assert time.monotonic() - signalled < 10
    assert process.returncode == 1, "".join(lines) + output
    assert "Stopped by SIGTERM" in " ".join(output.split())


def _dbt_child(process: subprocess.Popen) -> psutil.Process | None:
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:  # dbt build itself, after kpi-dbt exec'd it
        with contextlib.suppress(psutil.Error):
            command = child.cmdline()
            if any(part.endswith("/dbt") for part in command[:2]) and "build" in command:
                return child
    return None


@pytest.mark.e2e
def test_after_sigterm_and_kill_9_mid_dbt_the_next_run_completes_and_verifies(tmp_path: Path) -> None:
    """Done-when of issue 13: SIGTERM mid-dbt ends `kpi run` within seconds; kill -9 mid-dbt leaves
    no dbt behind; the next `kpi run` completes without manual steps and the store verifies."""
    from dagster_project.sample_data.generator import generate_sample_data

    landing, data = tmp_path / "landing", tmp_path / "data"
    generate_sample_data(landing, sales_lines=2_000)
    env = _kpi_env(landing, data)

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            [KPI, "run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    # 1. SIGTERM while dbt builds: exit 1 within seconds, dbt gone.
    run = start()
    _wait_until(lambda: _dbt_child(run) or run.poll() is not None, 300, "dbt started")
    dbt = _dbt_child(run)
    assert dbt is not None, run.communicate()[0]
    signalled = time.monotonic()
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=30)
    assert time.monotonic() - signalled < 15, output
    assert run.returncode == 1 and "Stopped by SIGTERM" in " ".join(output.split()), output
    _wait_until(lambda: not dbt.is_running() or dbt.status() == psutil.STATUS_ZOMBIE, 5, "dbt ended")

    # 2. kill -9 while dbt builds: dbt dies with it, the run's slot stays claimed in Dagster.
    run = start()
    _wait_until(lambda: _dbt_child(run) or run.poll() is not None, 300, "dbt started")
    dbt = _dbt_child(run)
    assert dbt is not None, run.communicate()[0]
    run.kill()
    run.communicate()
    _wait_until(lambda: not dbt.is_running() or dbt.status() == psutil.STATUS_ZOMBIE, 5, "dbt died with kpi")

    # 3. The next run frees the slot, marks the killed run failed, completes; the store verifies.
    done = subprocess.run([KPI, "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a period held back by the gate
    assert "Recovered Dagster run" in done.stdout + done.stderr
    assert "The run failed" not in done.stdout + done.stderr
    verify = subprocess.run(
        [KPI, "audit", "verify"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


# Housekeeping (issue 13, lesser items): settings, spills, log names, run history, file modes, kpi dev.


@pytest.mark.parametrize("value", ["lots", "2XB", "-1GB", "GB", "0MB"])
def test_a_bad_duckdb_memory_limit_stops_kpi_with_exit_2_naming_it(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from dagster_project.cli.app import app
    from dagster_project.cli.common import EXIT_BAD_INPUT

    monkeypatch.setenv("KPI_DUCKDB_MEMORY_LIMIT", value)
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["run", "--landing-dir", str(tmp_path)])
    assert result.exit_code == EXIT_BAD_INPUT
    assert "KPI_DUCKDB_MEMORY_LIMIT" in result.output
    assert not (tmp_path / "data").exists()  # stopped before anything was written


@pytest.mark.parametrize("value", ["2GB", "512MiB", "1.5 GB", "100mb"])
def test_usable_memory_limits_are_accepted(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_DUCKDB_MEMORY_LIMIT", value)
    assert Settings.from_env().duckdb_memory_limit == value


def test_dbt_spills_in_the_data_folders_tmp_like_the_pipelines_own_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jinja2
    import yaml

    from dagster_project.settings import DBT_PROJECT_DIR, duckdb_config

    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path / "data"))
    settings = Settings.from_env()
    text = jinja2.Template((DBT_PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8")).render(
        env_var=lambda name, default=None: settings.environment().get(name, default)
    )
    duckdb_settings = yaml.safe_load(text)["kpi_pipeline"]["outputs"]["duckdb"]["settings"]
    assert (
        duckdb_settings["temp_directory"]
        == str(settings.duckdb_tmp_dir)
        == duckdb_config(settings)["temp_directory"]
    )


def test_two_runs_in_the_same_second_get_log_files_of_their_own(tmp_path: Path) -> None:
    from dagster_project.cli.run import new_log_file

    first, second = new_log_file(tmp_path), new_log_file(tmp_path)
    assert first != second and first.exists() and second.exists()


def test_run_history_older_than_the_retention_is_pruned(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from dagster_project.run.run_log_storage import prune_run_history

    instance = _instance(tmp_path)

    @dg.op
    def noop() -> None:
        pass

    @dg.job
    def tiny() -> None:
        noop()

    old = tiny.execute_in_process(instance=instance).run_id
    event_file = Path(instance.event_log_storage.path_for_shard(old))
    compute_logs = Path(instance.root_directory) / "storage" / old
    assert event_file.exists() and compute_logs.exists()
    later = datetime.now(UTC) + timedelta(days=31)
    assert prune_run_history(instance, days=60, now=later) == 0  # within the retention
    assert prune_run_history(instance, days=0, now=later) == 0  # 0: keep every run
    assert prune_run_history(instance, days=30, now=later) == 1
    assert instance.get_run_by_id(old) is None
    assert not event_file.exists() and not compute_logs.exists()


def test_the_data_folder_and_its_files_are_private_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_project.settings import private_files

    for umask, folder_mode, file_mode in ((None, 0o700, 0o600), ("027", 0o750, 0o640)):
        data = tmp_path / f"data-{umask}"
        monkeypatch.setenv("KPI_DATA_DIR", str(data))
        if umask:
            monkeypatch.setenv("KPI_UMASK", umask)
        settings = Settings.from_env()
        with private_files(settings):
            (data / "warehouse.duckdb").write_text("x")
        assert data.stat().st_mode & 0o777 == folder_mode
        assert (data / "warehouse.duckdb").stat().st_mode & 0o777 == file_mode


def test_stopping_the_dev_command_stops_its_whole_process_group(tmp_path: Path) -> None:
    """`kpi dev` runs `dagster dev` in a process group; SIGTERM stops it and the processes it
    started (here: a parent with two `sleep` children standing in for webserver and daemon)."""
    dagster_dev = (
        "import subprocess, time; "
        "kids = [subprocess.Popen(['sleep', '300']) for _ in range(2)]; "
        "print(' '.join(str(k.pid) for k in kids), flush=True); time.sleep(300)"
    )
    script = (
        "import sys; from pathlib import Path; from dagster_project.cli.dev import run_process_group; "
        f"sys.exit(run_process_group([sys.executable, '-c', {dagster_dev!r}], Path('.')))"
    )
    kpi_dev = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=tmp_path
    )
    pids = [int(pid) for pid in kpi_dev.stdout.readline().split()]
    children = [psutil.Process(pid) for pid in pids]
    kpi_dev.send_signal(signal.SIGTERM)
    assert kpi_dev.wait(timeout=20) == 0
    for child in children:
        _wait_until(
            lambda c=child: not c.is_running() or c.status() == psutil.STATUS_ZOMBIE,
            5,
            f"{child.pid} stopped",
        )


def test_importing_the_package_writes_no_environment_variable() -> None:
    """Only `kpi` (settings.prepare_command_environment) and Settings-built child environments set
    variables; importing the package and its code location leaves the environment as it was."""
    code = (
        "import os, json; before = dict(os.environ); "
        "import dagster_project, dagster_project.definitions, dagster_project.cli.app, dagster_project.run.dbt_child; "
        "print(json.dumps(dict(os.environ) == before))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DO_NOT_TRACK", "DAGSTER_DISABLE_TELEMETRY")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "true"


def test_the_dbt_wrapper_reads_its_parent_from_the_settings_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_project.settings import DBT_PARENT_PID_VARIABLE, dbt_parent_pid, with_dbt_parent_pid

    assert with_dbt_parent_pid({"A": "1"}) == {"A": "1", DBT_PARENT_PID_VARIABLE: str(os.getpid())}
    monkeypatch.setenv(DBT_PARENT_PID_VARIABLE, "1234")
    assert dbt_parent_pid() == 1234
    monkeypatch.setenv(DBT_PARENT_PID_VARIABLE, "not a pid")
    assert dbt_parent_pid() is None
    monkeypatch.delenv(DBT_PARENT_PID_VARIABLE)
    assert dbt_parent_pid() is None
