"""Reading `kpi_definitions/` (dbt Semantic Layer YAML) with plain pyyaml, and the problem type.

No dbt import, so reading is fast enough for the CLI and the tests. The reader keeps only
well-formed entries (mappings with a name), so the metric graph (`graph.py`) and the checks
(`validate.py`) can rely on each entry being a mapping with a name.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DefinitionFiles = dict[str, dict[str, Any]]  # file relative to the repository root → its top-level mapping


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


def read_definitions(definitions_dir: Path) -> tuple[DefinitionFiles, list[DefinitionProblem]]:
    """Every YAML file of the folder (but the targets' seeds) and the problems reading them."""
    definitions_dir = definitions_dir.expanduser().resolve()
    # Paths as users see them in the repository: kpi_definitions/metrics/financial.yml
    root = definitions_dir.parent
    if not definitions_dir.is_dir():
        return {}, [DefinitionProblem(str(definitions_dir), "the definitions folder does not exist")]
    files: DefinitionFiles = {}
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


def entries(files: DefinitionFiles, key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, entry) of every `metrics` or `semantic_models` entry, in file order."""
    for file, content in files.items():
        for item in content.get(key) or []:
            yield file, item


def metric_meta(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A metric's governance fields (`config.meta`); empty when it has none."""
    config = raw.get("config")
    meta = config.get("meta") if isinstance(config, dict) else None
    return meta if isinstance(meta, dict) else {}


def is_kpi(raw: Mapping[str, Any]) -> bool:
    return metric_meta(raw).get("kpi_id") is not None


def ref_name(ref: Any) -> str | None:
    """A reference is a name or a mapping with `name` (measure, numerator, derived input)."""
    if isinstance(ref, str):
        return ref
    if isinstance(ref, dict) and isinstance(ref.get("name"), str):
        return ref["name"]
    return None
