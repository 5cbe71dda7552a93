"""The KPI catalogue: every KPI definition read from `kpi_definitions/` (dbt Semantic Layer YAML).

dbt reads the same folder through `model-paths`; this package reads it with plain pyyaml
(`definitions.py`, no dbt import, so it is fast enough for the CLI and tests), resolves the metric
graph (`graph.py`), validates it (`validate.py`) and lists the catalogue.
`check_definitions` reports problems; `load_catalog` returns a catalogue only when there are none.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dagster_project.kpis.definitions import (
    DefinitionFiles,
    DefinitionProblem,
    KpiDefinitionError,
    entries,
    is_kpi,
    metric_meta,
    read_definitions,
)
from dagster_project.kpis.graph import METRIC_TYPES, Measure, MetricGraph
from dagster_project.kpis.status_rule import StatusRule
from dagster_project.kpis.validate import (
    KINDS,
    PERSPECTIVES,
    POLARITIES,
    REQUIRED_FIELDS,
    SNAKE_CASE,
    UNITS,
    check_files,
)
from dagster_project.settings import KPI_DEFINITIONS_DIR

__all__ = [
    "KINDS",
    "METRIC_TYPES",
    "PERSPECTIVES",
    "POLARITIES",
    "REQUIRED_FIELDS",
    "SNAKE_CASE",
    "UNITS",
    "ChangelogEntry",
    "DefinitionProblem",
    "KpiCatalog",
    "KpiDefinition",
    "KpiDefinitionError",
    "Measure",
    "MetricDefinition",
    "StatusRule",
    "check_definitions",
    "load_catalog",
    "sorted_for_listing",
]


@dataclass(frozen=True)
class ChangelogEntry:
    version: int
    date: str
    change: str


@dataclass(frozen=True)
class MetricDefinition:
    """Any metric, KPI or building block, with its own YAML block and what it references."""

    name: str
    type: str
    file: str
    label: str | None
    measure: str | None  # simple metrics
    input_metrics: tuple[str, ...]  # ratio and derived metrics
    raw: dict[str, Any] = field(repr=False, compare=False)
    raw_yaml: str = field(repr=False)
    definition_hash: str = ""


@dataclass(frozen=True)
class KpiDefinition:
    """A KPI: a metric whose `config.meta` carries the governance fields."""

    kpi_id: str
    metric: str
    file: str
    label: str
    label_zh: str
    description: str
    formula: str
    owner: str
    perspective: str
    kind: str
    unit: str
    polarity: str
    decimals: int
    status_rule: StatusRule
    weight: float
    min_sample: int | None
    denominator_must_be_positive: bool
    version: int
    changelog: tuple[ChangelogEntry, ...]
    metric_type: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    raw_yaml: str = field(repr=False)
    definition_hash: str = ""


@dataclass(frozen=True)
class KpiCatalog:
    kpis: tuple[KpiDefinition, ...]
    metrics: dict[str, MetricDefinition]
    measures: dict[str, Measure]
    semantic_models: dict[str, str]  # name → file
    graph: MetricGraph = field(repr=False, compare=False)  # what the metrics and measures resolve to

    def kpi(self, kpi_id: str) -> KpiDefinition:
        for kpi in self.kpis:
            if kpi.kpi_id == kpi_id:
                return kpi
        raise KeyError(f"no KPI {kpi_id!r} in the catalogue")


def sorted_for_listing(catalog: KpiCatalog) -> list[KpiDefinition]:
    """KPIs in balanced-scorecard perspective order, then by kpi_id."""
    return sorted(catalog.kpis, key=lambda k: (PERSPECTIVES.index(k.perspective), k.kpi_id))


def check_definitions(definitions_dir: Path = KPI_DEFINITIONS_DIR) -> list[DefinitionProblem]:
    """Every problem in the definitions folder; an empty list means they are valid."""
    return _read_and_check(definitions_dir)[2]


def load_catalog(definitions_dir: Path = KPI_DEFINITIONS_DIR) -> KpiCatalog:
    """The validated catalogue; raises `KpiDefinitionError` listing every problem otherwise."""
    files, graph, problems = _read_and_check(definitions_dir)
    if problems:
        raise KpiDefinitionError(problems)
    metrics = {m.name: m for m in (_metric(file, raw, graph) for file, raw in entries(files, "metrics"))}
    semantic_models = {model["name"]: file for file, model in entries(files, "semantic_models")}
    kpis = tuple(
        _kpi(metrics[raw["name"]], metric_meta(raw)) for _, raw in entries(files, "metrics") if is_kpi(raw)
    )
    return KpiCatalog(kpis, metrics, graph.measures, semantic_models, graph)


def _read_and_check(definitions_dir: Path) -> tuple[DefinitionFiles, MetricGraph, list[DefinitionProblem]]:
    files, problems = read_definitions(definitions_dir)
    graph = MetricGraph.from_files(files)
    problems += check_files(files, graph)
    if not problems and not graph.kpi_metrics:
        problems.append(
            DefinitionProblem(
                str(definitions_dir), "no KPI definitions found (no metric has config.meta.kpi_id)"
            )
        )
    return files, graph, problems


def _metric(file: str, raw: dict[str, Any], graph: MetricGraph) -> MetricDefinition:
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    node = graph.metrics[raw["name"]]
    return MetricDefinition(
        name=raw["name"],
        type=raw["type"],
        file=file,
        label=raw.get("label"),
        measure=node.measure,
        input_metrics=tuple(item.name for item in node.inputs),
        raw=raw,
        raw_yaml=text,
        definition_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _kpi(metric: MetricDefinition, meta: dict[str, Any]) -> KpiDefinition:
    return KpiDefinition(
        kpi_id=meta["kpi_id"],
        metric=metric.name,
        file=metric.file,
        **{k: meta[k] for k in ("label", "label_zh", "description", "formula", "owner")},
        **{k: meta[k] for k in ("perspective", "kind", "unit", "polarity", "decimals")},
        status_rule=StatusRule.from_definition(meta["status_rule"]),
        weight=float(meta["weight"]),
        min_sample=meta.get("min_sample"),
        denominator_must_be_positive=bool(meta.get("denominator_must_be_positive", False)),
        version=meta["version"],
        changelog=tuple(
            ChangelogEntry(e["version"], str(e["date"]), str(e["change"])) for e in meta["changelog"]
        ),
        metric_type=metric.type,
        raw=metric.raw,
        raw_yaml=metric.raw_yaml,
        definition_hash=metric.definition_hash,
    )
