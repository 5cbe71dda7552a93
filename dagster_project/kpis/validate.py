"""The checks of the KPI definitions: names, governance fields in `config.meta`, and (through the
metric graph) the references between metrics and measures and circular references."""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from typing import Any

from dagster_project.kpis.definitions import DefinitionFiles, DefinitionProblem, entries, is_kpi, metric_meta
from dagster_project.kpis.graph import MetricGraph, MetricGraphError
from dagster_project.kpis.status_rule import STATUS_RULE_KEYS, STATUS_RULE_TYPES, ratio_thresholds

PERSPECTIVES = ("financial", "customer", "internal_process", "learning_growth")  # balanced-scorecard order
KINDS = ("result", "process")
UNITS = ("currency", "percent", "count", "ratio", "days", "score")
POLARITIES = ("higher_is_better", "lower_is_better")
# fmt: off
REQUIRED_FIELDS = (  # every KPI has these in config.meta
    "kpi_id", "label", "label_zh", "description", "formula", "owner", "perspective", "kind", "unit",
    "polarity", "decimals", "status_rule", "weight", "version", "changelog",
)
# fmt: on
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")

_Report = Callable[[str, str], None]  # (field, message) about the metric being checked


def check_files(files: DefinitionFiles, graph: MetricGraph) -> list[DefinitionProblem]:
    """Every problem of the definitions read into `files` (and resolved into `graph`)."""
    problems: list[DefinitionProblem] = list(graph.measure_problems)
    metrics = list(entries(files, "metrics"))
    names: dict[str, list[str]] = defaultdict(list)
    for file, raw in metrics:
        names[raw["name"]].append(file)
    kpi_ids: dict[str, list[tuple[str, str]]] = defaultdict(list)

    for file, raw in metrics:
        name = raw["name"]
        meta = metric_meta(raw)
        kpi_id = str(meta["kpi_id"]) if is_kpi(raw) else None
        report = partial(_report, problems, file, kpi_id, name)
        others = names[name][:]
        others.remove(file)
        if others:
            report("name", f"metric {name!r} is also defined in {', '.join(sorted(set(others)))}")
        if not SNAKE_CASE.match(name):
            report("name", f"{name!r} is not snake_case (^[a-z][a-z0-9_]*$)")
        if isinstance(raw.get("meta"), dict) and "kpi_id" in raw["meta"]:
            report("meta", "governance fields belong under config.meta, not meta")
        for field, message in graph.reference_problems(raw):
            report(field, message)
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
    cycles = graph.cycles()
    for name, cycle in cycles:
        problems.append(
            DefinitionProblem(
                graph.metrics[name].file,
                "circular reference: " + " → ".join(cycle),
                "type_params",
                metric=name,
            )
        )
    if not problems:  # the walks need a graph without broken references or cycles
        problems += _walk_problems(graph)
    return problems


def _walk_problems(graph: MetricGraph) -> list[DefinitionProblem]:
    problems = []
    for kpi_id, name in graph.kpi_metrics.items():
        try:
            graph.measure_uses(name)
        except MetricGraphError as error:
            problems.append(DefinitionProblem(graph.metrics[name].file, str(error), "type_params", kpi_id))
    return problems


def _report(
    problems: list[DefinitionProblem], file: str, kpi_id: str | None, metric: str, field_: str, message: str
) -> None:
    problems.append(DefinitionProblem(file, message, field_, kpi_id, None if kpi_id else metric))


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
    kind = rule.get("type")
    if kind not in STATUS_RULE_TYPES:
        return [f"type {kind!r} is not one of {', '.join(STATUS_RULE_TYPES)}"]
    allowed = STATUS_RULE_KEYS[kind]
    problems = [
        f"unknown key {k!r} for type {kind} (allowed: {', '.join(sorted(allowed))})"
        for k in rule
        if k not in allowed
    ]
    if kind == "difference":
        band = rule.get("amber_band")
        if not (_is_number(band) and band >= 0):
            problems.append(f"amber_band {band!r} must be a number ≥ 0")
        return problems
    green, amber = ratio_thresholds(rule)
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
