"""`kpi-dbt`: dbt that dies with the process that started it (dagster-dbt's `dbt_executable`).

dagster-dbt starts dbt as a subprocess. When the run's process is killed (kill -9, out of memory),
a plain dbt child would be re-parented to PID 1 and go on writing the warehouse while the next run
starts. This wrapper asks Linux to send it SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG,
kept across exec), then replaces itself with the dbt beside this Python: same PID, same arguments,
same output, so dagster-dbt's interrupt (SIGINT) still reaches dbt. An interrupted dbt leaves the
warehouse as DuckDB's last commit (every model is built in its own transaction).

Elsewhere than Linux it only execs dbt.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

from dagster_project.settings import dbt_parent_pid

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """Have the kernel SIGKILL this process when its parent exits (Linux; a no-op elsewhere); exit
    at once when the parent is not `parent_pid` any more (it died before the request took effect)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(128 + signal.SIGKILL)


def real_dbt() -> str:
    """The dbt executable installed beside this Python."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return "dbt"


def exec_with_parent(argv: list[str]) -> None:
    """Replace this process with `argv`, to be killed when this process's parent dies (the parent
    named by settings.dbt_parent_pid, set by the process that starts dbt: defs/transform.py)."""
    die_with_parent(dbt_parent_pid())
    os.execvp(argv[0], argv)


def main() -> None:
    exec_with_parent([real_dbt(), *sys.argv[1:]])


if __name__ == "__main__":
    main()
