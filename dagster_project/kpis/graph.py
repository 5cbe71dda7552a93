"""The metric graph: metrics, the measures they read and how, resolved once from the definitions.

Every walk of the graph is here: the references the checks report (`reference_problems`,
`cycles`), the measures a KPI needs with their offset windows and where they are read from
(semantic model, time and org-unit expressions: `measure_uses`), what a KPI's numerator and
denominator are (`parts`), and the order metrics depend on each other. The SQL compiler
(`compiler.py`), the checks (`validate.py`) and the provenance of a publication
(`audit/provenance.py`) all use it.

The graph is built from entries that may be broken (the checks report them); the walks assume
definitions the checks accept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster_project.kpis.definitions import (
    DefinitionFiles,
    DefinitionProblem,
    entries,
    is_kpi,
    metric_meta,
    ref_name,
)

METRIC_TYPES = ("simple", "ratio", "derived")  # what the KPI compiler supports
# dbt's time granularities; an offset window's may be plural ("2 years"), as dbt parses it.
TIME_GRANULARITIES = (
    "nanosecond",
    "microsecond",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
)
_MODEL_REF = re.compile(r"""^\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*$""")


class MetricGraphError(ValueError):
    """The graph cannot be walked for a KPI (e.g. nested offset windows)."""


@dataclass(frozen=True)
class OffsetWindow:
    """`offset_window: 1 year`: read the input from the same unit's period that much earlier."""

    count: int
    granularity: str

    @property
    def key(self) -> str:
        """The name of the offset in SQL (a join alias): off_1_year."""
        return f"off_{self.count}_{self.granularity}"

    @classmethod
    def parse(cls, text: Any) -> OffsetWindow | None:
        """As dbt parses it: `<count> <granularity>`, a standard granularity may be plural."""
        parts = str(text).lower().split(" ")
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        granularity = parts[1]
        if granularity.endswith("s") and granularity[:-1] in TIME_GRANULARITIES:
            granularity = granularity[:-1]
        return cls(int(parts[0]), granularity)


@dataclass(frozen=True)
class Measure:
    """A measure of a semantic model, with what the compiler needs to aggregate it."""

    name: str
    semantic_model: str
    agg: str
    expr: str | None  # as defined; `sql` is what is aggregated
    file: str
    time_expr: str = ""  # the agg time dimension's column or expression
    org_unit_expr: str | None = None  # the fact's org unit; None: the measure applies to every unit
    model: str | None = None  # the dbt model behind the semantic model (its `model: ref(...)`)

    @property
    def sql(self) -> str:
        return self.expr if self.expr is not None else self.name


@dataclass(frozen=True)
class MetricInput:
    """An input metric of a ratio (numerator, denominator) or derived metric."""

    name: str
    alias: str | None = None
    offset: OffsetWindow | None = None

    @property
    def used_as(self) -> str:
        """The name the derived metric's expression uses for it."""
        return self.alias or self.name


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    file: str
    measure: str | None = None  # simple
    inputs: tuple[MetricInput, ...] = ()  # ratio: numerator, denominator; derived: its metrics
    expr: str | None = None  # derived


@dataclass(frozen=True)
class MeasureUse:
    """A measure a metric reads, and the offset window it is read at (None: the period itself)."""

    measure: str
    offset: OffsetWindow | None


@dataclass(frozen=True)
class Part:
    """A metric read at an offset (None: the period itself): a KPI's numerator or denominator."""

    metric: str
    offset: OffsetWindow | None = None


@dataclass(frozen=True)
class KpiNode:
    """A KPI metric as the graph resolves it."""

    kpi_id: str
    metric: str
    type: str
    uses: tuple[MeasureUse, ...]  # in walk order, repeats included
    numerator: Part
    denominator: Part | None  # None: a sum or count, its value is the numerator


@dataclass(frozen=True)
class MetricGraph:
    metrics: dict[str, Metric]
    measures: dict[str, Measure]
    kpi_metrics: dict[str, str]  # kpi_id → metric name, sorted by kpi_id
    measure_problems: tuple[DefinitionProblem, ...] = ()

    @classmethod
    def from_files(cls, files: DefinitionFiles) -> MetricGraph:
        measures, problems = _measures(files)
        metrics = {raw["name"]: _metric(file, raw) for file, raw in entries(files, "metrics")}
        kpis = {
            str(metric_meta(raw)["kpi_id"]): raw["name"]
            for _, raw in entries(files, "metrics")
            if is_kpi(raw)
        }
        return cls(metrics, measures, dict(sorted(kpis.items())), tuple(problems))

    # --- the checks' walks -----------------------------------------------------------------------

    def reference_problems(self, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(field, message) of every broken reference of one metric entry."""
        problems: list[tuple[str, str]] = []

        def report(field: str, message: str) -> None:
            problems.append((field, message))

        kind = raw.get("type")
        if kind not in METRIC_TYPES:
            report(
                "type", f"{kind!r} is not supported by the KPI compiler (one of {', '.join(METRIC_TYPES)})"
            )
            return problems
        params = raw.get("type_params")
        if not isinstance(params, dict):
            report("type_params", "missing")
            return problems
        measure, inputs = _raw_inputs(raw)
        if kind == "simple":
            name = ref_name(measure)
            if name is None:
                report("type_params.measure", "must be a measure name or a mapping with name")
            elif name not in self.measures:
                report("type_params.measure", f"measure {name!r} does not exist in any semantic model")
            return problems
        if kind == "ratio":
            for key, ref in zip(("numerator", "denominator"), inputs, strict=True):
                name = ref_name(ref)
                if name is None:
                    report(f"type_params.{key}", "must be a metric name or a mapping with name")
                elif name not in self.metrics:
                    report(f"type_params.{key}", f"metric {name!r} does not exist")
            return problems
        expr = params.get("expr")
        if not isinstance(expr, str) or not expr.strip():
            report("type_params.expr", "missing")
            expr = ""
        if not inputs:
            report("type_params.metrics", "a derived metric needs a list of input metrics")
        for ref in inputs:
            name = ref_name(ref)
            if name is None:
                report("type_params.metrics", f"{ref!r} must be a metric name or a mapping with name")
                continue
            if name not in self.metrics:
                report("type_params.metrics", f"metric {name!r} does not exist")
            window = ref.get("offset_window") if isinstance(ref, dict) else None
            if window is not None and OffsetWindow.parse(window) is None:
                report(
                    "type_params.metrics",
                    f"offset_window {window!r} of {name!r} is not `<count> <granularity>`",
                )
            used_as = (ref.get("alias") or name) if isinstance(ref, dict) else name
            if expr and not re.search(rf"\b{re.escape(str(used_as))}\b", expr):
                report("type_params.expr", f"input {used_as!r} does not appear in {expr!r}")
        return problems

    def cycles(self) -> list[tuple[str, tuple[str, ...]]]:
        """(metric, the cycle through it) of every circular reference: the walks would not end."""
        return self._depth_first()[1]

    def order(self) -> list[str]:
        """Every metric after the metrics it reads (a topological order; cycles broken)."""
        return self._depth_first()[0]

    def _depth_first(self) -> tuple[list[str], list[tuple[str, tuple[str, ...]]]]:
        done: dict[str, None] = {}
        cycles: list[tuple[str, tuple[str, ...]]] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                cycles.append((name, (*path[path.index(name) :], name)))
                return
            if name in done or name not in self.metrics:
                return
            for child in self.metrics[name].inputs:
                visit(child.name, (*path, name))
            done[name] = None

        for name in self.metrics:
            visit(name, ())
        return list(done), cycles

    # --- the compiler's and provenance's walks ---------------------------------------------------

    def kpis(self) -> list[KpiNode]:
        """Every KPI metric, sorted by kpi_id."""
        return [self.kpi(kpi_id) for kpi_id in self.kpi_metrics]

    def kpi(self, kpi_id: str) -> KpiNode:
        name = self.kpi_metrics[kpi_id]
        numerator, denominator = self.parts(name)
        return KpiNode(
            kpi_id, name, self.metrics[name].type, tuple(self.measure_uses(name)), numerator, denominator
        )

    def measure_uses(self, name: str, offset: OffsetWindow | None = None) -> list[MeasureUse]:
        """The measures a metric reads, each with the offset window it is read at."""
        metric = self.metrics[name]
        if metric.type == "simple":
            return [MeasureUse(str(metric.measure), offset)]
        uses: list[MeasureUse] = []
        for item in metric.inputs:
            if item.offset and offset:
                raise MetricGraphError(f"metric {name!r} nests offset windows")
            uses += self.measure_uses(item.name, item.offset or offset)
        return uses

    def parts(self, name: str) -> tuple[Part, Part | None]:
        """A KPI's numerator and denominator: those of the (innermost) ratio it scales, or a growth
        metric's current and offset inputs; a KPI that is a sum has itself as numerator."""
        metric = self.metrics[name]
        inputs = metric.inputs
        if metric.type == "ratio":
            return Part(inputs[0].name), Part(inputs[1].name)
        if metric.type == "derived" and len(inputs) == 1 and inputs[0].offset is None:
            return self.parts(inputs[0].name)
        if (
            metric.type == "derived"
            and len(inputs) == 2
            and inputs[0].name == inputs[1].name
            and (inputs[0].offset is None) != (inputs[1].offset is None)
        ):
            return Part(inputs[0].name), Part(inputs[0].name, inputs[0].offset or inputs[1].offset)
        return Part(name), None


def _measures(files: DefinitionFiles) -> tuple[dict[str, Measure], list[DefinitionProblem]]:
    """Every measure by name; names must be unique across all semantic models (MetricFlow resolves
    them globally)."""
    measures: dict[str, Measure] = {}
    problems: list[DefinitionProblem] = []
    for file, model in entries(files, "semantic_models"):
        raw_measures = model.get("measures") or []
        where = f"semantic model {model['name']}"
        if not isinstance(raw_measures, list):
            problems.append(DefinitionProblem(file, f"{where}: must be a list", "measures"))
            continue
        for raw in raw_measures:
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                problems.append(DefinitionProblem(file, f"{where}: every measure needs a name", "measures"))
            elif name in measures:
                other = measures[name]
                problems.append(
                    DefinitionProblem(
                        file,
                        f"{where}: measure {name!r} is also defined in {other.file} (semantic model {other.semantic_model})",
                        "measures",
                    )
                )
            elif not raw.get("agg"):
                problems.append(DefinitionProblem(file, f"{where}: measure {name!r} has no agg", "measures"))
            else:
                measures[name] = _measure(file, model, raw)
    return measures, problems


def _measure(file: str, model: Mapping[str, Any], raw: Mapping[str, Any]) -> Measure:
    """As the dbt Semantic Layer reads it: the time dimension is the measure's agg_time_dimension or
    the model's default, its expression the dimension's `expr` or its name; the org unit is the
    model's `org_unit` entity."""
    defaults = model.get("defaults") if isinstance(model.get("defaults"), dict) else {}
    time_name = raw.get("agg_time_dimension") or defaults.get("agg_time_dimension")
    time_expr = time_name
    for dimension in _mappings(model.get("dimensions")):
        if dimension.get("name") == time_name and dimension.get("expr"):
            time_expr = dimension["expr"]
    org_unit_expr = None
    for entity in _mappings(model.get("entities")):
        if entity.get("name") == "org_unit":
            org_unit_expr = entity.get("expr") or entity["name"]
    reference = _MODEL_REF.match(str(model.get("model") or ""))
    expr = raw.get("expr")
    return Measure(
        name=raw["name"],
        semantic_model=model["name"],
        agg=raw["agg"],
        expr=None if expr is None else str(expr),
        file=file,
        time_expr=str(time_expr or ""),
        org_unit_expr=None if org_unit_expr is None else str(org_unit_expr),
        model=reference.group(1) if reference else None,
    )


def _mappings(items: Any) -> list[Mapping[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _raw_inputs(raw: Mapping[str, Any]) -> tuple[Any, list[Any]]:
    """The measure reference (simple) and the input metric references (ratio, derived)."""
    params = raw.get("type_params")
    params = params if isinstance(params, dict) else {}
    if raw.get("type") == "simple":
        return params.get("measure"), []
    if raw.get("type") == "ratio":
        return None, [params.get("numerator"), params.get("denominator")]
    if raw.get("type") == "derived":
        metrics = params.get("metrics")
        return None, metrics if isinstance(metrics, list) else []
    return None, []


def _metric(file: str, raw: Mapping[str, Any]) -> Metric:
    measure, refs = _raw_inputs(raw)
    inputs = []
    for ref in refs:
        name = ref_name(ref)
        if name is None:
            continue
        details = ref if isinstance(ref, dict) else {}
        window = details.get("offset_window")
        inputs.append(MetricInput(name, details.get("alias"), OffsetWindow.parse(window) if window else None))
    params = raw.get("type_params")
    expr = params.get("expr") if isinstance(params, dict) else None
    return Metric(
        name=raw["name"],
        type=str(raw.get("type")),
        file=file,
        measure=ref_name(measure),
        inputs=tuple(inputs),
        expr=expr if isinstance(expr, str) else None,
    )
