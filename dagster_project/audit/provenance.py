"""What a publishing run was made of: code version, tool versions, definition files, dbt artifacts.

`collect_provenance()` gathers it once per publication; the publisher writes it into the published
store (tables `publication_runs`, `publication_files`, `audit_texts`, `kpi_inputs`; docs/audit.md).
"""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from dagster_project.audit.artifacts import DbtInvocation, latest_dbt_invocation, read_blob, sha256_hex
from dagster_project.kpis.catalog import load_catalog
from dagster_project.kpis.graph import MetricGraph
from dagster_project.periods import GRAIN_MONTHS as OFFSET_MONTHS  # a MetricFlow offset granularity in months
from dagster_project.settings import EXPECTATIONS_DIR, KPI_DEFINITIONS_DIR, PROJECT_ROOT

# The packages whose versions a publication records.
RECORDED_PACKAGES = ("dbt-core", "dbt-duckdb", "dagster", "dagster-dbt", "great-expectations", "duckdb")
# Models whose compiled SQL a publication keeps: the KPI values, the scorecard and the lineage rollup.
COMPILED_SCHEMAS = ("kpi", "scorecard", "lineage")


@dataclass(frozen=True)
class SourceText:
    """A file (or compiled model) a publication used, with its full text."""

    kind: str  # semantic_models | metrics | targets | scorecard | expectations | compiled_sql
    path: str  # relative to the repository root; for compiled SQL the dbt model's file
    text: str

    @property
    def sha256(self) -> str:
        return sha256_hex(self.text.encode("utf-8"))


@dataclass(frozen=True)
class KpiInput:
    """A KPI reads the fact rows of a semantic model, at an offset of whole months (0: the period itself)."""

    kpi_id: str
    metric_name: str
    semantic_model: str
    model: str  # the dbt model behind the semantic model
    source_entities: tuple[str, ...]  # the landing entities that model is built from
    offset_months: int


@dataclass(frozen=True)
class RunProvenance:
    run_id: str
    recorded_at: datetime  # UTC, naive
    git_commit: str | None
    git_dirty: bool | None
    versions: dict[str, str]
    dbt: DbtInvocation | None
    files: tuple[SourceText, ...] = ()
    kpi_inputs: tuple[KpiInput, ...] = field(default_factory=tuple)


def collect_provenance(
    run_id: str, data_dir: Path, definitions_dir: Path = KPI_DEFINITIONS_DIR
) -> RunProvenance:
    dbt = latest_dbt_invocation(data_dir, run_id)
    manifest = json.loads(read_blob(data_dir, dbt.manifest_sha256)) if dbt else None
    commit, dirty = git_state(PROJECT_ROOT)
    files = [*_definition_files(definitions_dir), *_expectation_files()]
    if manifest is not None:
        files += _compiled_sql(manifest)
    return RunProvenance(
        run_id=run_id,
        recorded_at=datetime.now(UTC).replace(tzinfo=None),
        git_commit=commit,
        git_dirty=dirty,
        versions=tool_versions(),
        dbt=dbt,
        files=tuple(files),
        kpi_inputs=tuple(kpi_inputs(load_catalog(definitions_dir).graph, manifest))
        if manifest is not None
        else (),
    )


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """HEAD's commit and whether the work tree has uncommitted changes; (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit or None, bool(status.strip())


def tool_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in RECORDED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _definition_files(definitions_dir: Path) -> list[SourceText]:
    """Every file of the KPI definitions (semantic models, metrics, targets, scorecard weights)."""
    return [
        SourceText(
            kind=path.relative_to(definitions_dir).parts[0],
            path=_relative(path),
            text=path.read_text("utf-8"),
        )
        for path in sorted(definitions_dir.rglob("*"))
        if path.is_file()
        and path.suffix in (".yml", ".yaml", ".csv")
        and len(path.relative_to(definitions_dir).parts) > 1
    ]


def _expectation_files() -> list[SourceText]:
    return [
        SourceText(kind="expectations", path=_relative(path), text=path.read_text("utf-8"))
        for path in sorted(EXPECTATIONS_DIR.rglob("*"))
        if path.is_file() and path.suffix in (".yml", ".yaml", ".json")
    ]


def _compiled_sql(manifest: dict[str, Any]) -> list[SourceText]:
    texts = []
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model" or node.get("schema") not in COMPILED_SCHEMAS:
            continue
        code = node.get("compiled_code")
        if code:
            texts.append(
                SourceText(kind="compiled_sql", path=f"dbt_project/{node['original_file_path']}", text=code)
            )
    return sorted(texts, key=lambda text: text.path)


def kpi_inputs(graph: MetricGraph, manifest: dict[str, Any]) -> list[KpiInput]:
    """For every KPI metric, the semantic models (and offsets) it reads (the metric graph), with the
    landing entities behind them (the dbt manifest's lineage)."""
    models = {
        node["name"]: node_id
        for node_id, node in manifest.get("nodes", {}).items()
        if node.get("resource_type") == "model"
    }
    inputs: set[KpiInput] = set()
    for kpi in graph.kpis():
        for use in kpi.uses:
            measure = graph.measures[use.measure]
            offset = use.offset.count * OFFSET_MONTHS[use.offset.granularity] if use.offset else 0
            inputs.add(
                KpiInput(
                    kpi_id=kpi.kpi_id,
                    metric_name=kpi.metric,
                    semantic_model=measure.semantic_model,
                    model=str(measure.model),
                    source_entities=tuple(sorted(_source_entities(models[str(measure.model)], manifest))),
                    offset_months=offset,
                )
            )
    return sorted(inputs, key=lambda i: (i.kpi_id, i.offset_months, i.semantic_model))


def _source_entities(node_id: str, manifest: dict[str, Any]) -> set[str]:
    """The landing entities (dbt sources of schema raw) a model is built from, transitively."""
    entities: set[str] = set()
    seen: set[str] = set()
    stack = [node_id]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.startswith("source."):
            source = manifest["sources"][current]
            if source["source_name"] == "raw":
                entities.add(source["name"])
            continue
        node = manifest["nodes"].get(current)
        if node:
            stack.extend(node.get("depends_on", {}).get("nodes", []))
    return entities


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)
