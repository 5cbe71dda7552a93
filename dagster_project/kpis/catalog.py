"""The KPI catalogue: every KPI definition read from `kpi_definitions/` (dbt Semantic Layer YAML).

dbt reads the same folder through `model-paths`; this module reads it with plain pyyaml (no dbt
import, so it is fast enough for the CLI and tests) to validate the governance fields in
`config.meta` and the references between metrics and measures, and to list the catalogue.
`check_definitions` reports problems; `load_catalog` returns a catalogue only when there are none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from dagster_project.settings import KPI_DEFINITIONS_DIR

PERSPECTIVES = ("financial", "customer", "internal_process", "learning_growth")  # balanced-scorecard order
KINDS = ("result", "process")
UNITS = ("currency", "percent", "count", "ratio", "days", "score")
POLARITIES = ("higher_is_better", "lower_is_better")
METRIC_TYPES = ("simple", "ratio", "derived")  # what the KPI compiler supports
# fmt: off
REQUIRED_FIELDS = (  # every KPI has these in config.meta
    "kpi_id", "label", "label_zh", "description", "formula", "owner", "perspective", "kind", "unit",
    "polarity", "decimals", "status_rule", "weight", "version", "changelog",
)
# fmt: on
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")

_Files = dict[str, dict[str, Any]]  # file relative to the repository root → its top-level mapping
_Report = Callable[[str, str], None]  # (field, message) about the metric being checked


@dataclass(frozen=True)
class DefinitionProblem:
    """One thing wrong in the definitions: where (file, KPI or metric, field) and what."""

    file: str
    message: str
    field: str | None = None
    kpi_id: str | None = None
    metric: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.kpi_id:
            parts.append(f"KPI {self.kpi_id}")
        elif self.metric:
            parts.append(f"metric {self.metric}")
        if self.field:
            parts.append(self.field)
        return ": ".join([*parts, self.message])


class KpiDefinitionError(ValueError):
    """The definitions have problems; `problems` lists them all."""

    def __init__(self, problems: list[DefinitionProblem]) -> None:
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the KPI definitions:\n" + "\n".join(map(str, problems))
        )


@dataclass(frozen=True)
class StatusRule:
    """How attainment turns into a status: `ratio` (actual/target vs thresholds) or `difference`."""

    type: str
    green_at: float | None = None
    amber_at: float | None = None
    amber_band: float | None = None


@dataclass(frozen=True)
class ChangelogEntry:
    version: int
    date: str
    change: str


@dataclass(frozen=True)
class Measure:
    name: str
    semantic_model: str
    agg: str
    expr: str | None
    file: str


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
    return _read_and_check(definitions_dir)[1]


def load_catalog(definitions_dir: Path = KPI_DEFINITIONS_DIR) -> KpiCatalog:
    """The validated catalogue; raises `KpiDefinitionError` listing every problem otherwise."""
    files, problems = _read_and_check(definitions_dir)
    if problems:
        raise KpiDefinitionError(problems)
    metrics = {m.name: m for m in (_metric(file, raw) for file, raw in _entries(files, "metrics"))}
    measures: dict[str, Measure] = {}
    semantic_models: dict[str, str] = {}
    for file, model in _entries(files, "semantic_models"):
        semantic_models[model["name"]] = file
        for raw in model.get("measures") or []:
            measures[raw["name"]] = Measure(raw["name"], model["name"], raw["agg"], raw.get("expr"), file)
    kpis = tuple(
        _kpi(metrics[raw["name"]], _meta(raw)) for _, raw in _entries(files, "metrics") if _is_kpi(raw)
    )
    return KpiCatalog(kpis, metrics, measures, semantic_models)


def _read_and_check(definitions_dir: Path) -> tuple[_Files, list[DefinitionProblem]]:
    files, problems = _read(definitions_dir)
    problems += _check(files)
    if not problems and not any(_is_kpi(raw) for _, raw in _entries(files, "metrics")):
        problems.append(
            DefinitionProblem(
                str(definitions_dir), "no KPI definitions found (no metric has config.meta.kpi_id)"
            )
        )
    return files, problems


# --- reading ---------------------------------------------------------------------------------------


def _read(definitions_dir: Path) -> tuple[_Files, list[DefinitionProblem]]:
    definitions_dir = definitions_dir.expanduser().resolve()
    # Paths as users see them in the repository: kpi_definitions/metrics/financial.yml
    root = definitions_dir.parent
    if not definitions_dir.is_dir():
        return {}, [DefinitionProblem(str(definitions_dir), "the definitions folder does not exist")]
    files: _Files = {}
    problems: list[DefinitionProblem] = []
    paths = [p for pattern in ("*.yml", "*.yaml") for p in definitions_dir.rglob(pattern)]
    for path in sorted(paths):
        if path.relative_to(definitions_dir).parts[0] == "targets":  # seeds, not YAML definitions
            continue
        name = path.relative_to(root).as_posix()
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            problems.append(DefinitionProblem(name, _yaml_error(error)))
            continue
        if content is None:
            continue
        if not isinstance(content, dict):
            problems.append(
                DefinitionProblem(name, "the file must hold a YAML mapping (version, metrics, …)")
            )
            continue
        # Keep only well-formed entries so the checks can rely on each one being a mapping with a name.
        for key in ("metrics", "semantic_models"):
            items = content.get(key) or []
            if not isinstance(items, list):
                problems.append(DefinitionProblem(name, "must be a list", key))
                items = []
            valid = [i for i in items if isinstance(i, dict) and isinstance(i.get("name"), str)]
            for number, item in enumerate(items, start=1):
                if item not in valid:
                    problems.append(DefinitionProblem(name, f"entry {number} has no name: {item!r}", key))
            content[key] = valid
        files[name] = content
    return files, problems


def _yaml_error(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    detail = getattr(error, "problem", None) or str(error)
    return f"YAML syntax error{where}: {detail}"


def _entries(files: _Files, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for file, content in files.items():
        for item in content.get(key) or []:
            yield file, item


def _meta(raw: Mapping[str, Any]) -> dict[str, Any]:
    config = raw.get("config")
    meta = config.get("meta") if isinstance(config, dict) else None
    return meta if isinstance(meta, dict) else {}


def _is_kpi(raw: Mapping[str, Any]) -> bool:
    return _meta(raw).get("kpi_id") is not None


def _ref_name(ref: Any) -> str | None:
    """A reference is a name or a mapping with `name` (measure, numerator, derived input)."""
    if isinstance(ref, str):
        return ref
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        return ref["name"]
    return None


def _inputs(raw: Mapping[str, Any]) -> tuple[str | None, list[Any]]:
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


def _metric(file: str, raw: dict[str, Any]) -> MetricDefinition:
    text = yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
    measure, inputs = _inputs(raw)
    return MetricDefinition(
        name=raw["name"],
        type=raw["type"],
        file=file,
        label=raw.get("label"),
        measure=_ref_name(measure),
        input_metrics=tuple(n for n in map(_ref_name, inputs) if n),
        raw=raw,
        raw_yaml=text,
        definition_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def _kpi(metric: MetricDefinition, meta: dict[str, Any]) -> KpiDefinition:
    rule = meta["status_rule"]
    if rule["type"] == "ratio":
        status_rule = StatusRule("ratio", float(rule.get("green_at", 1.0)), float(rule.get("amber_at", 0.90)))
    else:
        status_rule = StatusRule("difference", amber_band=float(rule["amber_band"]))
    return KpiDefinition(
        kpi_id=meta["kpi_id"],
        metric=metric.name,
        file=metric.file,
        **{k: meta[k] for k in ("label", "label_zh", "description", "formula", "owner")},
        **{k: meta[k] for k in ("perspective", "kind", "unit", "polarity", "decimals")},
        status_rule=status_rule,
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


# --- checking --------------------------------------------------------------------------------------


def _check(files: _Files) -> list[DefinitionProblem]:
    problems: list[DefinitionProblem] = []
    measures = _check_semantic_models(files, problems)
    metrics = list(_entries(files, "metrics"))
    names: dict[str, list[str]] = defaultdict(list)
    for file, raw in metrics:
        names[raw["name"]].append(file)
    kpi_ids: dict[str, list[tuple[str, str]]] = defaultdict(list)

    for file, raw in metrics:
        name = raw["name"]
        meta = _meta(raw)
        kpi_id = str(meta["kpi_id"]) if _is_kpi(raw) else None
        report = partial(_report, problems, file, kpi_id, name)
        others = names[name][:]
        others.remove(file)
        if others:
            report("name", f"metric {name!r} is also defined in {', '.join(sorted(set(others)))}")
        if not SNAKE_CASE.match(name):
            report("name", f"{name!r} is not snake_case (^[a-z][a-z0-9_]*$)")
        if isinstance(raw.get("meta"), dict) and "kpi_id" in raw["meta"]:
            report("meta", "governance fields belong under config.meta, not meta")
        _check_references(raw, measures, names, report)
        if kpi_id is not None:
            kpi_ids[kpi_id].append((file, name))
            _check_governance(name, meta, report)

    for kpi_id, uses in kpi_ids.items():
        for file, name in uses:
            # Copies under the same metric name are already reported as duplicate names.
            others = [f"{n} in {f}" for f, n in uses if n != name]
            if others:
                problems.append(
                    DefinitionProblem(
                        file, f"KPI id {kpi_id!r} is also used by {', '.join(others)}", "kpi_id", kpi_id
                    )
                )
    problems += _check_cycles(metrics)
    return problems


def _report(
    problems: list[DefinitionProblem], file: str, kpi_id: str | None, metric: str, field_: str, message: str
) -> None:
    problems.append(DefinitionProblem(file, message, field_, kpi_id, None if kpi_id else metric))


def _check_semantic_models(files: _Files, problems: list[DefinitionProblem]) -> set[str]:
    """Measure names must be unique across all semantic models (MetricFlow resolves them globally)."""
    seen: dict[str, str] = {}
    for file, model in _entries(files, "semantic_models"):
        measures = model.get("measures") or []
        if not isinstance(measures, list):
            problems.append(
                DefinitionProblem(file, f"semantic model {model['name']}: must be a list", "measures")
            )
            continue
        for measure in measures:
            name = measure.get("name") if isinstance(measure, dict) else None
            where = f"semantic model {model['name']}"
            if not isinstance(name, str):
                problems.append(DefinitionProblem(file, f"{where}: every measure needs a name", "measures"))
            elif name in seen:
                problems.append(
                    DefinitionProblem(
                        file, f"{where}: measure {name!r} is also defined in {seen[name]}", "measures"
                    )
                )
            elif not measure.get("agg"):
                problems.append(DefinitionProblem(file, f"{where}: measure {name!r} has no agg", "measures"))
            else:
                seen[name] = f"{file} (semantic model {model['name']})"
    return set(seen)


def _check_references(
    raw: dict[str, Any], measures: set[str], metrics: Mapping[str, Any], report: _Report
) -> None:
    kind = raw.get("type")
    if kind not in METRIC_TYPES:
        report("type", f"{kind!r} is not supported by the KPI compiler (one of {', '.join(METRIC_TYPES)})")
        return
    params = raw.get("type_params")
    if not isinstance(params, dict):
        report("type_params", "missing")
        return
    measure, inputs = _inputs(raw)
    if kind == "simple":
        name = _ref_name(measure)
        if name is None:
            report("type_params.measure", "must be a measure name or a mapping with name")
        elif name not in measures:
            report("type_params.measure", f"measure {name!r} does not exist in any semantic model")
        return
    if kind == "ratio":
        for key, ref in zip(("numerator", "denominator"), inputs, strict=True):
            name = _ref_name(ref)
            if name is None:
                report(f"type_params.{key}", "must be a metric name or a mapping with name")
            elif name not in metrics:
                report(f"type_params.{key}", f"metric {name!r} does not exist")
        return
    expr = params.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        report("type_params.expr", "missing")
        expr = ""
    if not inputs:
        report("type_params.metrics", "a derived metric needs a list of input metrics")
    for ref in inputs:
        name = _ref_name(ref)
        if name is None:
            report("type_params.metrics", f"{ref!r} must be a metric name or a mapping with name")
            continue
        if name not in metrics:
            report("type_params.metrics", f"metric {name!r} does not exist")
        used_as = (ref.get("alias") or name) if isinstance(ref, dict) else name
        if expr and not re.search(rf"\b{re.escape(str(used_as))}\b", expr):
            report("type_params.expr", f"input {used_as!r} does not appear in {expr!r}")


def _check_cycles(metrics: list[tuple[str, dict[str, Any]]]) -> list[DefinitionProblem]:
    """A metric that depends on itself would make the KPI compiler recurse forever."""
    graph = {raw["name"]: [n for n in map(_ref_name, _inputs(raw)[1]) if n] for _, raw in metrics}
    files = {raw["name"]: file for file, raw in metrics}
    problems, done = [], set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            cycle = (*path[path.index(name) :], name)
            problems.append(
                DefinitionProblem(
                    files[name], "circular reference: " + " → ".join(cycle), "type_params", metric=name
                )
            )
            return
        if name in done or name not in graph:
            return
        for child in graph[name]:
            visit(child, (*path, name))
        done.add(name)

    for name in graph:
        visit(name, ())
    return problems


def _check_governance(name: str, meta: dict[str, Any], report: _Report) -> None:
    missing = [f for f in REQUIRED_FIELDS if meta.get(f) is None or meta.get(f) == ""]
    for f in missing:
        report(f, "missing or empty: every KPI needs it in config.meta")
    kpi_id = meta.get("kpi_id")
    if "kpi_id" not in missing:
        if not isinstance(kpi_id, str) or not SNAKE_CASE.match(kpi_id):
            report("kpi_id", f"{kpi_id!r} is not stable snake_case (^[a-z][a-z0-9_]*$)")
        elif kpi_id != name:
            report("kpi_id", f"{kpi_id!r} must equal the metric name {name!r}")
    for f in ("label", "label_zh", "description", "formula", "owner"):
        if f not in missing and not isinstance(meta[f], str):
            report(f, f"{meta[f]!r} must be text")
    for f, allowed in (
        ("perspective", PERSPECTIVES),
        ("kind", KINDS),
        ("unit", UNITS),
        ("polarity", POLARITIES),
    ):
        if f not in missing and meta[f] not in allowed:
            report(f, f"{meta[f]!r} is not one of {', '.join(allowed)}")
    if "decimals" not in missing and not (_is_int(meta["decimals"]) and 0 <= meta["decimals"] <= 6):
        report("decimals", f"{meta['decimals']!r} must be an integer from 0 to 6")
    if "weight" not in missing and not (_is_number(meta["weight"]) and meta["weight"] > 0):
        report("weight", f"{meta['weight']!r} must be a number > 0")
    if meta.get("min_sample") is not None and not (_is_int(meta["min_sample"]) and meta["min_sample"] >= 1):
        report("min_sample", f"{meta['min_sample']!r} must be an integer ≥ 1")
    positive = meta.get("denominator_must_be_positive")
    if positive is not None and not isinstance(positive, bool):
        report("denominator_must_be_positive", f"{positive!r} must be true or false")
    if "status_rule" not in missing:
        for message in _status_rule_problems(meta["status_rule"]):
            report("status_rule", message)
    version = meta.get("version")
    version_ok = _is_int(version) and version >= 1
    if "version" not in missing and not version_ok:
        report("version", f"{version!r} must be an integer ≥ 1")
    if version_ok and "changelog" not in missing:
        for message in _changelog_problems(meta["changelog"], version):
            report("changelog", message)


def _status_rule_problems(rule: Any) -> list[str]:
    if not isinstance(rule, dict):
        return [f"{rule!r} must be a mapping with a type (ratio or difference)"]
    keys = {"ratio": {"type", "green_at", "amber_at"}, "difference": {"type", "amber_band"}}
    kind = rule.get("type")
    if kind not in keys:
        return [f"type {kind!r} is not one of ratio, difference"]
    problems = [
        f"unknown key {k!r} for type {kind} (allowed: {', '.join(sorted(keys[kind]))})"
        for k in rule
        if k not in keys[kind]
    ]
    if kind == "difference":
        band = rule.get("amber_band")
        if not (_is_number(band) and band >= 0):
            problems.append(f"amber_band {band!r} must be a number ≥ 0")
        return problems
    green, amber = rule.get("green_at", 1.0), rule.get("amber_at", 0.90)
    if not (_is_number(green) and _is_number(amber)):
        problems.append(f"green_at {green!r} and amber_at {amber!r} must be numbers")
    elif not 0 < amber <= green:
        problems.append(f"needs 0 < amber_at ≤ green_at, got amber_at {amber} and green_at {green}")
    return problems


def _changelog_problems(changelog: Any, version: int) -> list[str]:
    if not isinstance(changelog, list):
        return ["must be a list of {version, date, change}"]
    problems = []
    for entry in changelog:
        if not (isinstance(entry, dict) and {"version", "date", "change"} <= set(entry)):
            problems.append(f"entry {entry!r} needs version, date and change")
            continue
        try:
            dt.date.fromisoformat(str(entry["date"]))
        except ValueError:
            problems.append(f"entry for version {entry['version']}: date {entry['date']!r} is not YYYY-MM-DD")
    if not any(isinstance(e, dict) and e.get("version") == version for e in changelog):
        problems.append(f"has no entry for the current version {version}: add one saying what changed")
    return problems


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
