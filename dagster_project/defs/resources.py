"""Resources shared by the assets: where landing files are, and the warehouse connection."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from dagster_project.settings import Settings, duckdb_config


class LandingZone(dg.ConfigurableResource):
    """The landing folder: one sub-folder per entity of the source data contract."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path)


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    from dagster_project.defs.transform import build_dbt_resource

    return {
        "dbt": build_dbt_resource(),
        "landing": LandingZone(path=str(settings.landing_dir)),
        "warehouse": DuckDBResource(
            database=str(settings.warehouse_path), connection_config=duckdb_config(settings)
        ),
    }
