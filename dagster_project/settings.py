"""Configuration from environment variables, with documented defaults (see README and .env.example).

Every path the pipeline writes to is derived here, so the CLI, Dagster and the tests agree on them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The repository root: dagster_project/settings.py → ../
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
KPI_DEFINITIONS_DIR = PROJECT_ROOT / "kpi_definitions"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# The warehouse engines: DuckDB on one machine (the default), Spark when the data outgrows it
# (docs/scale_out.md). The dbt target of profiles.yml has the engine's name.
ENGINES = ("duckdb", "spark")

# Environment variables that switch off usage statistics of dbt, Dagster and Great Expectations.
_TELEMETRY_OFF = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "GX_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
}


def disable_telemetry() -> None:
    """Set the opt-out variables unless the user set them explicitly."""
    for name, value in _TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes. Build it with `Settings.from_env()`."""

    landing_dir: Path
    data_dir: Path
    dagster_home: Path
    duckdb_memory_limit: str
    duckdb_threads: int | None
    engine: str = "duckdb"

    @classmethod
    def from_env(cls) -> Settings:
        threads = _env("KPI_DUCKDB_THREADS")
        data_dir = _path_from_env("KPI_DATA_DIR", PROJECT_ROOT / "data")
        return cls(
            landing_dir=_path_from_env("KPI_LANDING_DIR", PROJECT_ROOT / "data" / "landing"),
            data_dir=data_dir,
            dagster_home=_path_from_env("DAGSTER_HOME", data_dir / "dagster_home"),
            duckdb_memory_limit=_env("KPI_DUCKDB_MEMORY_LIMIT") or "4GB",
            duckdb_threads=int(threads) if threads else None,
            engine=engine_from_env(),
        )

    def environment(self) -> dict[str, str]:
        """The variables that pass these settings to tools started as subprocesses (dbt reads them)."""
        return {
            "KPI_LANDING_DIR": str(self.landing_dir),
            "KPI_DATA_DIR": str(self.data_dir),
            "KPI_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "DAGSTER_HOME": str(self.dagster_home),
            "KPI_ENGINE": self.engine,
        }

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def duckdb_tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def spark_warehouse_dir(self) -> Path:
        """Spark's tables, one Parquet folder each: <dir>/<schema>.db/<table>/ (engine spark)."""
        return spark_warehouse_dir(self.data_dir)


def spark_warehouse_dir(data_dir: Path) -> Path:
    return data_dir / "spark-warehouse"


def engine_from_env() -> str:
    """KPI_ENGINE (duckdb when unset); anything else is an error that names the accepted values."""
    engine = (_env("KPI_ENGINE") or "duckdb").lower()
    if engine not in ENGINES:
        raise ValueError(
            f"KPI_ENGINE is {os.environ['KPI_ENGINE']!r}: it must be one of {', '.join(ENGINES)} "
            "(unset means duckdb; spark needs Java 17, see docs/scale_out.md)."
        )
    return engine


def _env(name: str) -> str | None:
    """A variable's value; set-but-empty counts as unset."""
    return os.environ.get(name, "").strip() or None


def _path_from_env(name: str, default: Path) -> Path:
    value = _env(name)
    return Path(value).expanduser().resolve() if value else default


def duckdb_config(settings: Settings) -> dict[str, object]:
    """Connection settings for the warehouse: bounded memory, spill to disk instead of failing."""
    config: dict[str, object] = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.duckdb_tmp_dir),
    }
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    return config
