"""Resources shared by the assets: the settings, where landing files are, the warehouse connection,
dbt, and the warehouse pool that serialises every step writing the warehouse. A leaf: imports
nothing from defs/."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from functools import cache
from pathlib import Path

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, DbtProject
from dagster_duckdb import DuckDBResource

from dagster_project.contract.window import DateWindow
from dagster_project.settings import DBT_PROJECT_DIR, Settings, default_date_window, duckdb_config

# Dagster pool of every step that writes the warehouse: DuckDB has one writer per file, so one step
# at a time across runs (the instance's default pool limit is 1, run/pipeline.py).
WAREHOUSE_POOL = "duckdb_warehouse"


class Warehouse(DuckDBResource):
    """dagster-duckdb's resource, closing the connection also when the step fails: DuckDB refuses a
    connection with another configuration (e.g. the gate's read-only one) while one is still open."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with super().get_connection() as connection:
            try:
                yield connection
            finally:
                connection.close()


class LandingZone(dg.ConfigurableResource):
    """The landing folder: one sub-folder per entity of the source data contract."""

    path: str
    # The plausibility window of the dates (Settings.date_window; docs/data_contract.md).
    earliest_date: str = default_date_window().earliest.isoformat()
    future_days: int = default_date_window().future_days

    @property
    def root(self) -> Path:
        return Path(self.path)

    @property
    def date_window(self) -> DateWindow:
        return DateWindow(date.fromisoformat(self.earliest_date), self.future_days)


def build_resources(settings: Settings) -> dict[str, object]:
    """The resources of the code location; `settings` itself is one (`settings:
    dg.ResourceParam[Settings]`): a step reads its configuration there, never from the environment."""
    return {
        "settings": settings,
        "dbt": build_dbt_resource(),
        "landing": LandingZone(
            path=str(settings.landing_dir),
            earliest_date=settings.date_window.earliest.isoformat(),
            future_days=settings.date_window.future_days,
        ),
        "warehouse": Warehouse(
            database=str(settings.warehouse_path), connection_config=duckdb_config(settings)
        ),
    }


@cache
def kpi_dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()  # parses only under `dagster dev`; `kpi` and the tests call prepare_dbt()
    return project


def build_dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=kpi_dbt_project(), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=_dbt_executable()
    )


def _dbt_executable() -> str:
    """`kpi-dbt` beside this Python (works without the venv on PATH): dbt, killed when the process
    that started it dies (dagster_project/run/dbt_child.py); else dbt beside this Python or on PATH."""
    for name in ("kpi-dbt", "dbt"):
        for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
            if (folder / name).exists():
                return str(folder / name)
    return "dbt"
