"""Dagster's run history in SQLite without an fsync per event.

Dagster's SQLite storage opens a new connection for every event it records (NullPool) and commits
it at SQLite's default `synchronous=FULL`: an fsync per commit and another on close. A pipeline
run records a few hundred events (every dbt model and test is one), which cost ~20 s on a disk
with 5 ms fsyncs, more than the work at small sizes (bench/README.md). With `synchronous=OFF`
SQLite leaves flushing to the OS: a crash of the process loses nothing; only a crash of the
machine itself could lose or damage the latest run records. The run history is operational
metadata: the audit trail (load batches, check results, publications) is in DuckDB, untouched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_folders: set[str] = set()


def relax_run_history_fsync(dagster_home: Path) -> None:
    """Open Dagster's SQLite files under `dagster_home` with synchronous=OFF (idempotent)."""
    if not _folders:
        event.listen(Engine, "connect", _on_connect)
    _folders.add(str(Path(dagster_home).resolve()) + "/")


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    files = [row[2] for row in dbapi_connection.execute("pragma database_list").fetchall()]
    if any(path and path.startswith(tuple(_folders)) for path in files):
        dbapi_connection.execute("pragma synchronous = OFF")
