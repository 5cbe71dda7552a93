"""The dbt project as Dagster assets: staging → intermediate → marts → KPI values and dictionary.

Sources `raw.<entity>` map to the extract assets' keys, so one run materializes extraction and dbt
and the asset graph shows the whole lineage; dbt tests become asset checks.

Two dbt steps: the models that do not depend on a month (staging, intermediate, dimensions, seeds,
dictionary) are unpartitioned; the facts and everything built on them (KPI values, scorecards,
gate models) are partitioned by month (defs/partitions.py). A run of some months passes them to dbt
in environment variables and the incremental models replace only those months; a run of every
month rebuilds them.
"""

import fcntl
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from dagster_project.audit.artifacts import archive_dbt_invocation
from dagster_project.defs.partitions import dbt_window_env, window_for_range
from dagster_project.defs.resources import WAREHOUSE_POOL, build_dbt_resource, kpi_dbt_project
from dagster_project.engines import after_dbt_build, before_dbt_build
from dagster_project.kpis.compiler import refresh_models
from dagster_project.settings import (
    DBT_PROJECT_DIR,
    KPI_DEFINITIONS_DIR,
    Settings,
    environment_overrides,
    with_dbt_parent_pid,
)


def prepare_dbt(force: bool = False) -> Path:
    """Regenerate the KPI models if the definitions changed, then parse the dbt project (and so
    validate the semantic manifest) unless the manifest is newer than every file of the project and
    the KPI definitions; returns the manifest path."""
    project = kpi_dbt_project()
    # DbtProject keeps target_path relative to the project (dbt's reading); so does this lock.
    target = project.project_dir / project.target_path
    target.mkdir(parents=True, exist_ok=True)
    # One parse at a time: two processes (two `kpi` commands, test workers) would otherwise write the
    # same manifest at once and one could read it half-written.
    with (target / ".parse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # Adding a KPI is adding YAML: its SQL is generated here, before dbt reads the models.
        for path in refresh_models(KPI_DEFINITIONS_DIR, DBT_PROJECT_DIR):
            dg.get_dagster_logger().info(f"Regenerated {path} from the changed KPI definitions.")
        if force or _manifest_is_stale(project.manifest_path):
            with environment_overrides(with_dbt_parent_pid({})):
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


# The fact models (models/marts/facts/) and every model built on them: partitioned by month (dbt
# selection syntax). Not "marts+": the dimensions and the KPI dictionary under marts/ do not depend
# on a month.
PARTITIONED_MODELS = "marts.facts+"
UNPARTITIONED_STEP = "kpi_dbt_models"
# dbt unit tests pin the SQL logic; they run in `make test` (tests/test_scorecard.py), not in every
# production build, where they cost seconds and test no data.
DBT_BUILD = ("build", "--exclude-resource-type", "unit_test")
PARTITIONED_STEP = "kpi_dbt_monthly_models"


def build_dbt_assets(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The unpartitioned dbt step and the month-partitioned one (see the module docstring)."""
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
        name=UNPARTITIONED_STEP,
        exclude=PARTITIONED_MODELS,
    )
    def kpi_dbt_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        settings: dg.ResourceParam[Settings],
        config: KpiRunConfig,
    ):
        yield from _build(dbt, settings, [*DBT_BUILD, *dbt_vars_args(config.as_of)], context)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=KpiDbtTranslator(),
        pool=WAREHOUSE_POOL,
        name=PARTITIONED_STEP,
        select=PARTITIONED_MODELS,
        partitions_def=partitions_def,
        # A backfill of a range of months from the UI is one run, and so one dbt build.
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def kpi_dbt_monthly_models(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        settings: dg.ResourceParam[Settings],
        config: KpiRunConfig,
    ):
        window = window_for_range(context.partition_key_range, partitions_def)
        if window is None:
            context.log.info("Every month partition: the incremental models are rebuilt from scratch.")
        else:
            periods = ", ".join(f"{grain} {start.isoformat()}" for grain, start in window.periods())
            context.log.info(f"Recomputing {periods}.")
        args = [*DBT_BUILD, *dbt_vars_args(config.as_of)]
        # A full run rebuilds the incremental models as tables: as fast as before, and schema changes apply.
        yield from _build(
            dbt,
            settings,
            [*args, "--full-refresh"] if window is None else args,
            context,
            stages_scorecards=True,
            env=dbt_window_env(window),
        )

    return [kpi_dbt_models, kpi_dbt_monthly_models]


def _build(
    dbt: DbtCliResource,
    settings: Settings,
    args: list[str],
    context: dg.AssetExecutionContext,
    stages_scorecards: bool = False,
    env: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """Run a dbt command with the environment of `settings` (and `env`, the months to build) and
    stream its events; then archive its manifest and run results by hash for the audit trail
    (docs/audit.md). On engine spark, land the extracted sources for dbt first and, after every step,
    make what it built readable in warehouse.duckdb: the gate's fingerprints (gate/decision.py) read
    the rows there right after a check, and the publish step reads the staged scorecards the
    partitioned step builds."""
    before_dbt_build(settings)
    # dagster-dbt starts dbt with a copy of os.environ; the parent's PID lets kpi-dbt die with it.
    with environment_overrides(with_dbt_parent_pid({**settings.environment(), **(env or {})})):
        invocation = dbt.cli(args, context=context)
    yield from invocation.stream()
    after_dbt_build(settings, staged=stages_scorecards)
    archive_dbt_invocation(invocation.target_path, context.run_id, settings.data_dir, context.op.name)


def dbt_vars_args(as_of: str | None) -> list[str]:
    """`--vars` for dbt: the as-of date, when set."""
    return ["--vars", json.dumps({"kpi_as_of": as_of})] if as_of else []
