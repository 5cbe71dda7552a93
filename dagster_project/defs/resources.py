"""Resources shared by the assets: where landing files are, and the warehouse connection."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from dagster_project.contract.window import DateWindow
from dagster_project.settings import Settings, default_date_window, duckdb_config


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


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    from dagster_project.defs.transform import build_dbt_resource

    return {
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
