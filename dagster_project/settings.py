"""Configuration from environment variables, with documented defaults (see README and .env.example).

The one module that reads the environment: `Settings.from_env` reads every variable once (the
command line's folder options take the place of theirs), and the rest of the package is handed the
Settings object (a Dagster step through the `settings` resource). Child processes (dbt, kpi-dbt,
`kpi dev`'s Dagster) get their variables from `Settings.environment()`, built here too. Every path
the pipeline writes to is derived here, so the CLI, Dagster and the tests agree on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.contract.window import DateWindow

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
    """Set the opt-out variables unless the user set them explicitly (children inherit them)."""
    for name, value in _TELEMETRY_OFF.items():
        os.environ.setdefault(name, value)


def prepare_command_environment(dotenv: Path) -> None:
    """What a `kpi` command does before it reads its settings: the variables of `dotenv` (.env in
    the current folder, as `dagster dev` reads it; the environment wins) and the telemetry opt-outs."""
    from dotenv import load_dotenv

    load_dotenv(dotenv, override=False)
    disable_telemetry()


# kpi-dbt's handshake with the process that starts dbt (run/dbt_child.py): that process's PID, which
# the wrapper compares with its parent after prctl, so a parent killed while the wrapper was still
# starting is noticed too. A process handshake, not configuration.
DBT_PARENT_PID_VARIABLE = "KPI_DBT_PARENT_PID"


def with_dbt_parent_pid(variables: Mapping[str, str]) -> dict[str, str]:
    """`variables` and this process's PID, for the kpi-dbt this process starts."""
    return {**variables, DBT_PARENT_PID_VARIABLE: str(os.getpid())}


def dbt_parent_pid() -> int | None:
    """In kpi-dbt: the PID of the process that started it (None when it left none)."""
    value = os.environ.get(DBT_PARENT_PID_VARIABLE, "")
    return int(value) if value.isdigit() else None


class SettingsError(ValueError):
    """A configuration variable has a value the pipeline cannot use (`kpi` exits with code 2)."""


# Defaults of the operations settings (docs/operations.md).
DEFAULT_FIRST_MONTH = "2024-01"  # the sample data's first month
# Per DuckDB instance: a run has at most two at once (Dagster's process and dbt's), so the pipeline
# stays under 3 GB at 10 million sales lines (bench/results.md); DuckDB spills beyond it.
DEFAULT_DUCKDB_MEMORY_LIMIT = "2GB"
DEFAULT_PUBLISH_DAY = 3  # publish the month just closed on the 3rd of the next month
DEFAULT_EXTRACT_CRON = "0 2 * * *"  # extraction daily at 02:00
DEFAULT_SCHEDULE_TIMEZONE = "UTC"
# Recovery and housekeeping (docs/operations.md): how long a run waits for the warehouse pool while
# a live run holds it; how many days of Dagster run history DAGSTER_HOME keeps; the umask of files
# the pipeline creates (0077: the data folder 0700, files 0600).
DEFAULT_POOL_WAIT_SECONDS = 900
DEFAULT_RUN_HISTORY_DAYS = 90
DEFAULT_UMASK = 0o077
# The plausible dates of the source data (docs/data_contract.md): from KPI_FIRST_MONTH minus the
# history the KPIs compare with (prior-year growth: 12 months) to a few days after today (UTC).
DEFAULT_DATE_HISTORY_MONTHS = 12
DEFAULT_DATE_FUTURE_DAYS = 7
# The Spark engine's session (engines/spark.py; dbt_project/profiles.yml, target spark, reads the same
# variables): a local Spark with two cores and 2 GB for the driver; few shuffle partitions (the
# aggregates are small).
DEFAULT_SPARK_MASTER = "local[2]"
DEFAULT_SPARK_DRIVER_MEMORY = "2g"
DEFAULT_SPARK_SHUFFLE_PARTITIONS = 4
# KPI_GATE_<NAME> overrides the quality gate's parameter <name> (expectations/checks.yml).
GATE_PARAMETER_PREFIX = "KPI_GATE_"


DEFAULT_OUTBOUND_TIMEOUT_SECONDS = 5.0  # per destination and run: the webhook, the OpenLineage endpoint
DEFAULT_OPENLINEAGE_ENDPOINT = "api/v1/lineage"
DEFAULT_OPENLINEAGE_NAMESPACE = "kpi_pipeline"


@dataclass(frozen=True)
class OutboundSettings:
    """The HTTP destinations of a run (dagster_project/outbound.py) and the time each may take.
    The URLs and the key may hold secrets: they are left out of repr() (log them with outbound.redact_url)."""

    alert_webhook_url: str | None = field(default=None, repr=False)
    openlineage_url: str | None = field(default=None, repr=False)
    openlineage_endpoint: str = DEFAULT_OPENLINEAGE_ENDPOINT
    openlineage_api_key: str | None = field(default=None, repr=False)
    openlineage_namespace: str = DEFAULT_OPENLINEAGE_NAMESPACE
    timeout_seconds: float = DEFAULT_OUTBOUND_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls) -> OutboundSettings:
        return cls(
            alert_webhook_url=_env("KPI_ALERT_WEBHOOK_URL"),
            openlineage_url=_env("OPENLINEAGE_URL"),
            openlineage_endpoint=_env("OPENLINEAGE_ENDPOINT") or DEFAULT_OPENLINEAGE_ENDPOINT,
            openlineage_api_key=_env("OPENLINEAGE_API_KEY"),
            openlineage_namespace=_env("OPENLINEAGE_NAMESPACE") or DEFAULT_OPENLINEAGE_NAMESPACE,
            timeout_seconds=_seconds_env("KPI_OUTBOUND_TIMEOUT_SECONDS", DEFAULT_OUTBOUND_TIMEOUT_SECONDS),
        )


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes. Build it with `Settings.from_env()`."""

    landing_dir: Path
    data_dir: Path
    dagster_home: Path
    duckdb_memory_limit: str
    duckdb_threads: int | None
    first_month: str = DEFAULT_FIRST_MONTH
    publish_day: int = DEFAULT_PUBLISH_DAY
    extract_cron: str = DEFAULT_EXTRACT_CRON
    schedule_timezone: str = DEFAULT_SCHEDULE_TIMEZONE
    engine: str = "duckdb"
    pool_wait_seconds: int = DEFAULT_POOL_WAIT_SECONDS
    run_history_days: int = DEFAULT_RUN_HISTORY_DAYS  # 0: keep every run
    umask: int = DEFAULT_UMASK
    date_history_months: int = DEFAULT_DATE_HISTORY_MONTHS
    date_future_days: int = DEFAULT_DATE_FUTURE_DAYS
    spark_master: str = DEFAULT_SPARK_MASTER
    spark_driver_memory: str = DEFAULT_SPARK_DRIVER_MEMORY
    spark_shuffle_partitions: int = DEFAULT_SPARK_SHUFFLE_PARTITIONS
    java_home: Path | None = None  # where Spark finds Java; None: `java` on PATH
    # The quality gate's parameters set by KPI_GATE_<NAME>, by lower-case name (gate/runner.py).
    gate_parameters: Mapping[str, float] = field(default_factory=dict)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)

    @classmethod
    def from_env(cls, landing_dir: Path | None = None, data_dir: Path | None = None) -> Settings:
        """The settings of the environment; `landing_dir` and `data_dir` (the command line's
        options) take the place of KPI_LANDING_DIR and KPI_DATA_DIR, and what is derived from them
        follows. Raises SettingsError naming the variable when a value is unusable."""
        threads = _int_env("KPI_DUCKDB_THREADS", None, minimum=1)
        data_dir = _resolved(data_dir) if data_dir else _path_from_env("KPI_DATA_DIR", PROJECT_ROOT / "data")
        return cls(
            landing_dir=_resolved(landing_dir)
            if landing_dir
            else _path_from_env("KPI_LANDING_DIR", PROJECT_ROOT / "data" / "landing"),
            data_dir=data_dir,
            dagster_home=_path_from_env("DAGSTER_HOME", data_dir / "dagster_home"),
            duckdb_memory_limit=_memory_env("KPI_DUCKDB_MEMORY_LIMIT", DEFAULT_DUCKDB_MEMORY_LIMIT),
            duckdb_threads=threads,
            first_month=_month_env("KPI_FIRST_MONTH", DEFAULT_FIRST_MONTH),
            # 1..28: every month has the day, so no month's publication is skipped.
            publish_day=_int_env("KPI_PUBLISH_DAY", DEFAULT_PUBLISH_DAY, minimum=1, maximum=28),
            extract_cron=_cron_env("KPI_EXTRACT_CRON", DEFAULT_EXTRACT_CRON),
            schedule_timezone=_timezone_env("KPI_SCHEDULE_TIMEZONE", DEFAULT_SCHEDULE_TIMEZONE),
            engine=engine_from_env(),
            pool_wait_seconds=_int_env("KPI_POOL_WAIT_SECONDS", DEFAULT_POOL_WAIT_SECONDS, minimum=0),
            run_history_days=_int_env("KPI_RUN_HISTORY_DAYS", DEFAULT_RUN_HISTORY_DAYS, minimum=0),
            umask=_umask_env("KPI_UMASK", DEFAULT_UMASK),
            date_history_months=_int_env("KPI_DATE_HISTORY_MONTHS", DEFAULT_DATE_HISTORY_MONTHS, minimum=0),
            date_future_days=_int_env("KPI_DATE_FUTURE_DAYS", DEFAULT_DATE_FUTURE_DAYS, minimum=0),
            spark_master=_env("KPI_SPARK_MASTER") or DEFAULT_SPARK_MASTER,
            spark_driver_memory=_env("KPI_SPARK_DRIVER_MEMORY") or DEFAULT_SPARK_DRIVER_MEMORY,
            spark_shuffle_partitions=_int_env(
                "KPI_SPARK_SHUFFLE_PARTITIONS", DEFAULT_SPARK_SHUFFLE_PARTITIONS, minimum=1
            ),
            java_home=Path(java_home) if (java_home := _env("JAVA_HOME")) else None,
            gate_parameters=_gate_parameters_env(),
            outbound=OutboundSettings.from_env(),
        )

    def environment(self) -> dict[str, str]:
        """The variables that pass these settings to tools started as subprocesses (dbt reads them,
        and `kpi dev`'s Dagster code server builds its settings from them)."""
        return {
            "KPI_LANDING_DIR": str(self.landing_dir),
            "KPI_DATA_DIR": str(self.data_dir),
            "KPI_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "DAGSTER_HOME": str(self.dagster_home),
            "KPI_ENGINE": self.engine,
            "KPI_SPARK_MASTER": self.spark_master,
            "KPI_SPARK_DRIVER_MEMORY": self.spark_driver_memory,
            "KPI_SPARK_SHUFFLE_PARTITIONS": str(self.spark_shuffle_partitions),
            **self.date_window.environment(),
        }

    def child_environment(self, path_first: Path | None = None) -> dict[str, str]:
        """The whole environment of a process started with these settings (`kpi dev`'s Dagster):
        this process's, with these settings' variables over it; `path_first` is put ahead on PATH."""
        variables = {**os.environ, **self.environment()}
        if path_first is not None:
            variables["PATH"] = f"{path_first}{os.pathsep}{variables.get('PATH', '')}"
        return variables

    @property
    def date_window(self) -> DateWindow:
        """The dates the source data may have; rows outside are quarantined, and the calendar of
        dbt never reaches beyond it (docs/data_contract.md)."""
        return DateWindow.from_first_month(self.first_month, self.date_history_months, self.date_future_days)

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


def default_date_window() -> DateWindow:
    """The plausibility window of the default settings (KPI_FIRST_MONTH etc. unset)."""
    return DateWindow.from_first_month(
        DEFAULT_FIRST_MONTH, DEFAULT_DATE_HISTORY_MONTHS, DEFAULT_DATE_FUTURE_DAYS
    )


def spark_warehouse_dir(data_dir: Path) -> Path:
    return data_dir / "spark-warehouse"


def engine_from_env() -> str:
    """KPI_ENGINE (duckdb when unset); anything else is an error that names the accepted values."""
    engine = (_env("KPI_ENGINE") or "duckdb").lower()
    if engine not in ENGINES:
        raise SettingsError(
            f"KPI_ENGINE is {os.environ['KPI_ENGINE']!r}: it must be one of {', '.join(ENGINES)} "
            "(unset means duckdb; spark needs Java 17, see docs/scale_out.md)."
        )
    return engine


def _gate_parameters_env() -> dict[str, float]:
    """Every KPI_GATE_<NAME> variable as {name: number}; gate/runner.py applies those the gate has."""
    parameters = {}
    for variable in sorted(os.environ):
        value = _env(variable)
        if not variable.startswith(GATE_PARAMETER_PREFIX) or value is None:
            continue
        try:
            parameters[variable.removeprefix(GATE_PARAMETER_PREFIX).lower()] = float(value)
        except ValueError:
            raise SettingsError(f"{variable}={value!r} is not a number, e.g. 0.02: fix or unset it") from None
    return parameters


def _env(name: str) -> str | None:
    """A variable's value; set-but-empty counts as unset."""
    return os.environ.get(name, "").strip() or None


def _int_env(name: str, default: int | None, minimum: int, maximum: int | None = None) -> int | None:
    value = _env(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"
        raise SettingsError(f"{name}={value!r} is not a whole number {bounds}: fix or unset it")
    return number


# DuckDB's memory_limit: a number and a unit (KB … TB, KiB … TiB, or a bare B), e.g. 2GB or 512MiB.
_MEMORY_UNITS = ("b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "k", "m", "g", "t")


def _memory_env(name: str, default: str) -> str:
    value = _env(name) or default
    number = value.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ").strip()
    unit = value[len(number) :].strip().lower()
    try:
        amount = float(number)
    except ValueError:
        amount = None
    if amount is None or amount <= 0 or unit not in _MEMORY_UNITS:
        raise SettingsError(
            f"{name}={value!r} is not an amount of memory: write a number and a unit, e.g. 2GB or 512MiB"
        )
    return value


def _umask_env(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        mask = int(value, 8)
    except ValueError:
        mask = None
    if mask is None or not 0 <= mask <= 0o777:
        raise SettingsError(f"{name}={value!r} is not an octal umask such as 077 (private) or 022")
    return mask


def _seconds_env(name: str, default: float) -> float:
    value = _env(name)
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds <= 600:
        raise SettingsError(
            f"{name}={value!r} is not a number of seconds above 0 and at most 600, e.g. {default:g}"
        )
    return seconds


def _month_env(name: str, default: str) -> str:
    value = _env(name) or default
    parts = value.split("-")
    if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2 or not all(p.isdigit() for p in parts):
        raise SettingsError(f"{name}={value!r} is not a month: write it as YYYY-MM, e.g. {default}")
    if not 1 <= int(parts[1]) <= 12:
        raise SettingsError(f"{name}={value!r} has no month {parts[1]}: write it as YYYY-MM, e.g. {default}")
    return value


def _cron_env(name: str, default: str) -> str:
    from dagster._utils.schedules import is_valid_cron_string

    value = _env(name) or default
    if not is_valid_cron_string(value):
        raise SettingsError(f"{name}={value!r} is not a cron expression, e.g. {default!r} (daily at 02:00)")
    return value


def _timezone_env(name: str, default: str) -> str:
    from zoneinfo import ZoneInfo

    value = _env(name) or default
    try:
        ZoneInfo(value)
    except (ValueError, KeyError, OSError):
        raise SettingsError(f"{name}={value!r} is not a time zone name, e.g. UTC or Asia/Shanghai") from None
    return value


def _path_from_env(name: str, default: Path) -> Path:
    value = _env(name)
    return _resolved(Path(value)) if value else default


def _resolved(path: Path) -> Path:
    return path.expanduser().resolve()


def duckdb_config(settings: Settings) -> dict[str, object]:
    """Connection settings for the warehouse: bounded memory, spill to disk instead of failing."""
    config: dict[str, object] = {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.duckdb_tmp_dir),
    }
    if settings.duckdb_threads:
        config["threads"] = settings.duckdb_threads
    return config


@contextmanager
def private_files(settings: Settings) -> Iterator[None]:
    """Create the data folder, give it the mode of KPI_UMASK (default 0700) and create files with
    that umask (default 0600) for the duration of the block; the previous umask is restored."""
    previous = os.umask(settings.umask)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.data_dir.stat().st_uid == os.getuid():
            settings.data_dir.chmod(0o777 & ~settings.umask)
        yield
    finally:
        os.umask(previous)


@contextmanager
def environment_overrides(variables: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (subprocesses such as dbt inherit
    them), then restore the previous values."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
