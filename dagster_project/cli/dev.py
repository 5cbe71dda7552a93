"""`kpi dev`: the Dagster UI on localhost, as one process group that stops as a whole."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from dagster_project.cli.common import EXIT_OK, DataDirOption, _settings, console
from dagster_project.settings import PROJECT_ROOT, environment_overrides


def dev(
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    data_dir: DataDirOption = None,
) -> None:
    """Start the Dagster UI on localhost with the pipeline's persistent DAGSTER_HOME."""
    from dagster_project.defs.transform import prepare_dbt
    from dagster_project.run.pipeline import prepare_dagster_home
    from dagster_project.run.recovery import recover_dead_runs

    settings = _settings(data_dir=data_dir)
    os.umask(settings.umask)  # the UI's runs create their files as `kpi run` does (KPI_UMASK)
    recover_dead_runs(prepare_dagster_home(settings))  # slots of runs killed since the last start
    with environment_overrides(settings.environment()):  # dbt parses with these settings
        prepare_dbt()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "--host", "127.0.0.1", "--port", str(port)]
    console.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={settings.dagster_home})")
    # Dagster's code server builds its settings from this environment (definitions.py), and must
    # find dbt (and mf) beside this Python; the UI's runs and dbt under them inherit it.
    environment = settings.child_environment(path_first=Path(sys.executable).parent)
    raise typer.Exit(run_process_group(command, cwd=PROJECT_ROOT, env=environment))


# After SIGTERM/SIGINT, how long `dagster dev` and its processes get before SIGKILL.
STOP_GRACE_SECONDS = 10.0


def run_process_group(command: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> int:
    """Run `command` in a process group of its own (with the environment `env`, else this
    process's) and return its exit code. SIGINT (Ctrl-C) or
    SIGTERM to this process stops the whole group (`dagster dev` and the webserver, daemon and
    code servers it starts): SIGTERM to the group, SIGKILL to what is left after
    STOP_GRACE_SECONDS; then returns 0."""
    import signal

    process = subprocess.Popen(command, cwd=cwd, env=env, start_new_session=True)
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
