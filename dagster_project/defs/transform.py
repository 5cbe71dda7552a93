"""The dbt project as Dagster assets: staging → intermediate → marts → KPI values and dictionary.

Sources `raw.<entity>` map to the extract assets' keys, so one run materializes extraction and dbt
and the asset graph shows the whole lineage; dbt tests become asset checks.
"""

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from dagster_project.defs.extract import WAREHOUSE_POOL
from dagster_project.engines import after_dbt_build, before_dbt_build
from dagster_project.settings import DBT_PROJECT_DIR, KPI_DEFINITIONS_DIR, Settings


@cache
def kpi_dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    project.prepare_if_dev()  # parses only under `dagster dev`; `kpi` and the tests call prepare_dbt()
    return project


def prepare_dbt(force: bool = False) -> Path:
    """Parse the dbt project (and so validate the semantic manifest) unless the manifest is newer
    than every file of the project and the KPI definitions; returns the manifest path."""
    project = kpi_dbt_project()
    if force or _manifest_is_stale(project.manifest_path):
        build_dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project.manifest_path


def _manifest_is_stale(manifest: Path) -> bool:
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    sources = [DBT_PROJECT_DIR / name for name in ("dbt_project.yml", "models", "macros", "tests")]
    sources.append(KPI_DEFINITIONS_DIR)
    for source in sources:
        files = source.rglob("*") if source.is_dir() else [source]
        if any(path.is_file() and path.stat().st_mtime > built for path in files):
            return True
    return False


class KpiRunConfig(dg.Config):
    """Run options of the dbt step. `as_of` (YYYY-MM-DD): periods ending after it are not complete,
    and targets set after it are not yet in effect; default: the data's last day and today."""

    as_of: str | None = None


class KpiDbtTranslator(DagsterDbtTranslator):
    """Models keyed by schema and name (`kpi/kpi_values`), grouped by layer; sources keep dbt's
    default `raw/<entity>`, the extract assets' keys."""

    def get_asset_key(self, dbt_resource_props: dict[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: dict[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "kpi_definitions"
        return dbt_resource_props["schema"]


def build_dbt_assets() -> dg.AssetsDefinition:
    project = kpi_dbt_project()
    if not project.manifest_path.exists():
        raise dg.DagsterInvariantViolationError(
            f"The dbt manifest {project.manifest_path} does not exist. `kpi run` and `kpi dev` create it; "
            "by hand: `cd dbt_project && dbt parse`."
        )

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=KpiDbtTranslator(),
        pool=WAREHOUSE_POOL,
        name="kpi_dbt_models",
    )
    def kpi_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: KpiRunConfig):
        args = ["build"]
        if config.as_of:
            args += ["--vars", json.dumps({"kpi_as_of": config.as_of})]
        settings = Settings.from_env()
        before_dbt_build(settings)  # engine spark: land the extracted sources as Parquet
        yield from dbt.cli(args, context=context).stream()
        after_dbt_build(settings)  # engine spark: the staged tables, readable by the publish step

    return kpi_dbt_models


def build_dbt_resource() -> DbtCliResource:
    return DbtCliResource(
        project_dir=kpi_dbt_project(), profiles_dir=str(DBT_PROJECT_DIR), dbt_executable=_dbt_executable()
    )


def _dbt_executable() -> str:
    """The dbt installed beside this Python (works without the venv on PATH), else dbt on PATH."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return "dbt"
