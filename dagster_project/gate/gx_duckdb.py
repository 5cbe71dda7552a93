"""Workaround for Great Expectations 1.24.1 on DuckDB. Contained here; delete it once upstream fixes it.

The defect: on a DuckDB SQL datasource every expectation raises `IndexError: list index out of range`
because GX fetches the results after closing the SQLAlchemy connection that produced them (GX issues
#10738 and #11579; a native DuckDB execution engine is still an open pull request upstream).
GX already keeps one persisted connection for the dialects in `_PERSISTED_CONNECTION_DIALECTS`
(SQLite among them, for the same reason); adding DuckDB there makes validations run correctly.

GX is pinned exactly (pyproject.toml) and `test_gx_duckdb_workaround_canary` (tests/test_gate.py) is the canary: it fails loudly
when an upgrade changes the internals this relies on, or when the upstream fix makes it unnecessary.
"""

from __future__ import annotations

from typing import Any

import great_expectations as gx
from great_expectations.execution_engine import sqlalchemy_execution_engine as _engine

PATCHED_GX_VERSION = "1.24.1"


class _DialectName(str):
    """A dialect name that also answers `.value`, as the GXSqlDialect members in the tuple do."""

    @property
    def value(self) -> str:
        return str(self)


def enable_duckdb_persisted_connection() -> None:
    """Make GX keep one connection open for DuckDB engines (idempotent)."""
    if gx.__version__ != PATCHED_GX_VERSION:
        raise RuntimeError(
            f"dagster_project/gate/gx_duckdb.py patches great-expectations {PATCHED_GX_VERSION}, "
            f"but {gx.__version__} is installed: check whether GX issues #10738/#11579 are fixed, "
            "then update or remove the workaround (the canary in tests/test_gate.py tells which)."
        )
    dialects = _engine._PERSISTED_CONNECTION_DIALECTS
    if "duckdb" not in [str(getattr(d, "value", d)) for d in dialects]:
        _engine._PERSISTED_CONNECTION_DIALECTS = (*dialects, _DialectName("duckdb"))


def release_database(datasource: Any) -> None:
    """Close every connection GX holds to the DuckDB file, so that this process can open it again
    with another configuration (DuckDB refuses that while any connection is open).

    GX's `ExecutionEngine.close()` leaves the persisted connection open, and the datasource keeps an
    engine of its own (from its connection test).
    """
    execution_engine = datasource.get_execution_engine()
    connection = getattr(execution_engine, "_connection", None)
    if connection is not None:
        connection.close()
        execution_engine._connection = None
    execution_engine.close()
    datasource.get_engine().dispose()
