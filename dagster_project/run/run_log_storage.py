"""Dagster's run history in SQLite, fast enough to record a few hundred events per run.

Dagster's SQLite event log opens a new SQLAlchemy engine and connection for every event it records
(NullPool), checks the schema again on another new engine for every asset-check event, and commits
at SQLite's default `synchronous=FULL` (an fsync per commit). A pipeline run records about 500
events (every dbt model and test, every check, planned and done): at ~80 ms each that was 25-40 s
of a run, more than the work itself at small sizes and most of an incremental month's run
(bench/README.md). `KpiSqliteStorage` is Dagster's own SQLite storage (same files, same layout,
same schema) with two changes:

- the event log keeps one engine per database file (the cross-run index and the latest runs')
  and remembers which tables exist;
- SQLite's `synchronous=OFF` for files in the Dagster home: SQLite leaves flushing to the OS, so
  a crash of the process loses nothing; only a crash of the machine itself could lose or damage
  the latest run records.

The run history is operational metadata: the audit trail (load batches, check results,
publications) is in DuckDB, untouched. `pipeline.DAGSTER_YAML` configures it, so `kpi run`,
`kpi dev` and the daemon all use it.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dagster import DagsterInstance, RunsFilter
from dagster._core.storage.dagster_run import FINISHED_STATUSES
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

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


class KpiSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage under `base_dir` with the fast event log and no fsyncs (see above)."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        from dagster_project.run.recovery import install_claim_wait_fix

        relax_run_history_fsync(Path(base_dir))
        # Every process of this instance (kpi run, dagster dev's webserver, daemon and run workers)
        # waits for a pool slot without spinning (run_recovery.py).
        install_claim_wait_fix()
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> KpiSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage with one engine (and pooled connection) per database file: the index
    and the most recently used runs' files. Access stays serialised by the storage's own lock."""

    OPEN_RUN_FILES = 4

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._existing_tables: set[str] = set()
        super().__init__(base_dir, inst_data)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _engine(self, shard: str) -> Engine:
        engine = self._engines.pop(shard, None) or create_engine(
            self.conn_string_for_shard(shard),
            # the pool may hand the connection to another thread (the run's event watcher); the
            # storage lock makes sure only one uses it at a time
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )
        self._engines[shard] = engine  # most recently used last
        run_files = [name for name in self._engines if name != INDEX_SHARD_NAME]
        for name in run_files[: max(0, len(run_files) - self.OPEN_RUN_FILES)]:
            self._engines.pop(name).dispose()
        return engine

    def has_table(self, table_name: str) -> bool:
        # Tables are only ever added (by migrations): a table once found stays.
        if table_name not in self._existing_tables and super().has_table(table_name):
            self._existing_tables.add(table_name)
        return table_name in self._existing_tables

    def drop_run_file(self, run_id: str) -> None:
        """Delete the SQLite file of a deleted run (Dagster empties it but leaves it)."""
        with self._db_lock:
            engine = self._engines.pop(run_id, None)
            if engine is not None:
                engine.dispose()
            self._initialized_dbs.discard(run_id)
            path = Path(self.path_for_shard(run_id))
            for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
                file.unlink(missing_ok=True)

    def dispose(self) -> None:
        super().dispose()
        with self._db_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


# Runs pruned per call at most: the first prune of a long history is spread over a few runs.
PRUNE_BATCH = 200


def prune_run_history(instance: DagsterInstance, days: int, now: datetime | None = None) -> int:
    """Delete finished runs last updated more than `days` days ago (0: keep all), with their
    events, their per-run SQLite file and their compute logs; returns how many were deleted.
    The audit trail (load batches, check results, publications) is in DuckDB and stays; the
    Dagster UI shows no history (nor partition status) older than that."""
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    records = instance.get_run_records(
        filters=RunsFilter(statuses=list(FINISHED_STATUSES), updated_before=cutoff), limit=PRUNE_BATCH
    )
    events = instance.event_log_storage
    compute_logs = Path(instance.root_directory) / "storage" if instance.root_directory else None
    for record in records:
        run_id = record.dagster_run.run_id
        instance.delete_run(run_id)
        if isinstance(events, PooledSqliteEventLogStorage):
            events.drop_run_file(run_id)
        if compute_logs is not None:
            shutil.rmtree(compute_logs / run_id, ignore_errors=True)
    return len(records)
