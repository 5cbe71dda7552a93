"""Source data contract (version 2), read from `source_contract_v1.yaml` (the one source of truth).

The extractor enforces it and `docs/data_contract.md` embeds the table rendered by
`contract_markdown()`; a test keeps the document in step with the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTRACT_FILE = Path(__file__).with_name("source_contract_v1.yaml")
COLUMN_TYPES = ("text", "integer", "decimal", "date", "timestamp")
# Warehouse type of each contract type. Decimals keep 4 places so sums reconcile exactly.
SQL_TYPES = {
    "text": "VARCHAR",
    "integer": "BIGINT",
    "decimal": "DECIMAL(18, 4)",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    description: str
    default: Any = None
    min: float | None = None
    min_exclusive: bool = False
    max: float | None = None
    accepted_values: tuple[str, ...] = ()
    references: tuple[str, str] | None = None  # (entity, column)
    # A date that may lie before the plausible dates (a hire date years back), never after them.
    only_latest_bounded: bool = False

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    def rules_in_words(self) -> str:
        words = [self.type]
        if not self.required:
            words.append("optional")
        if self.default is not None:
            words.append(f"default {self.default}")
        if self.min is not None:
            words.append(f"{'>' if self.min_exclusive else '≥'} {format_number(self.min)}")
        if self.max is not None:
            words.append(f"≤ {format_number(self.max)}")
        if self.accepted_values:
            words.append("one of " + ", ".join(self.accepted_values))
        if self.references:
            words.append(f"must exist in {self.references[0]}.{self.references[1]}")
        if self.only_latest_bounded:
            words.append("may lie before the plausible dates")
        return "; ".join(words)


@dataclass(frozen=True)
class EntityRule:
    name: str
    description: str


@dataclass(frozen=True)
class Entity:
    name: str
    group: str
    description: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    rules: tuple[EntityRule, ...] = field(default=())
    depends_on: tuple[str, ...] = field(default=())

    @property
    def upstream_entities(self) -> tuple[str, ...]:
        """Other entities this one is validated against, so they must be loaded first."""
        names = [c.references[0] for c in self.columns if c.references] + list(self.depends_on)
        return tuple(sorted({name for name in names if name != self.name}))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns a file must have in its header (a value may still be blank in some rows)."""
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"entity {self.name!r} has no column {name!r}")

    def has_rule(self, name: str) -> bool:
        return any(rule.name == name for rule in self.rules)


@dataclass(frozen=True)
class Contract:
    version: int
    entities: dict[str, Entity]

    def entity(self, name: str) -> Entity:
        try:
            return self.entities[name]
        except KeyError:
            known = ", ".join(self.entities)
            raise KeyError(f"unknown entity {name!r}; the contract defines {known}") from None


@cache
def load_contract(path: Path = CONTRACT_FILE) -> Contract:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    entities = {name: _entity(name, spec, path) for name, spec in raw["entities"].items()}
    contract = Contract(version=int(raw["version"]), entities=entities)
    _check_references(contract, path)
    return contract


def _entity(name: str, spec: dict[str, Any], path: Path) -> Entity:
    columns = tuple(_column(name, col, path) for col in spec["columns"])
    names = {c.name for c in columns}
    missing_key = [k for k in spec["key"] if k not in names]
    if missing_key:
        raise ValueError(f"{path}: entity {name}: key columns {missing_key} are not defined")
    return Entity(
        name=name,
        group=spec["group"],
        description=spec["description"],
        key=tuple(spec["key"]),
        columns=columns,
        rules=tuple(EntityRule(r["name"], r["description"]) for r in spec.get("rules", [])),
        depends_on=tuple(spec.get("depends_on", ())),
    )


def _column(entity: str, spec: dict[str, Any], path: Path) -> Column:
    if spec["type"] not in COLUMN_TYPES:
        raise ValueError(
            f"{path}: {entity}.{spec['name']}: unknown type {spec['type']!r}; use one of {COLUMN_TYPES}"
        )
    if spec.get("plausible_dates", "both") not in ("both", "latest_only"):
        raise ValueError(f"{path}: {entity}.{spec['name']}: plausible_dates must be both or latest_only")
    references = None
    if "references" in spec:
        ref_entity, ref_column = spec["references"].split(".")
        references = (ref_entity, ref_column)
    return Column(
        name=spec["name"],
        type=spec["type"],
        required=bool(spec["required"]),
        description=spec.get("description", ""),
        default=spec.get("default"),
        min=spec.get("min"),
        min_exclusive=bool(spec.get("min_exclusive", False)),
        max=spec.get("max"),
        accepted_values=tuple(spec.get("accepted_values", ())),
        references=references,
        only_latest_bounded=spec.get("plausible_dates", "both") == "latest_only",
    )


def _check_references(contract: Contract, path: Path) -> None:
    for entity in contract.entities.values():
        for column in entity.columns:
            if column.references is None:
                continue
            target_entity, target_column = column.references
            if target_column not in contract.entity(target_entity).column_names:
                raise ValueError(f"{path}: {entity.name}.{column.name} references unknown {target_column}")


def contract_markdown(contract: Contract | None = None) -> str:
    """The contract as markdown tables, embedded in docs/data_contract.md."""
    contract = contract or load_contract()
    out: list[str] = []
    for entity in contract.entities.values():
        out.append(f"### `{entity.name}` ({entity.group})\n")
        out.append(f"{entity.description} Key: {' + '.join(entity.key)}.\n")
        out.append("| column | type and rules | description |")
        out.append("|---|---|---|")
        for column in entity.columns:
            out.append(f"| `{column.name}` | {column.rules_in_words()} | {column.description} |")
        if entity.rules:
            out.append("")
            out.append("Row rules:")
            out.append("")
            out.extend(f"- `{rule.name}`: {rule.description}" for rule in entity.rules)
        out.append("")
    return "\n".join(out)


def format_number(value: float) -> str:
    """A rule's bound as people write it: 0, not 0.0."""
    return str(int(value)) if float(value).is_integer() else str(value)


DOC_BEGIN = "<!-- generated by `kpi contract docs` from source_contract_v1.yaml: begin -->"
DOC_END = "<!-- generated: end -->"


def render_contract_doc(document: str, contract: Contract | None = None) -> str:
    """The document with its generated section replaced by the current contract tables."""
    try:
        head, rest = document.split(DOC_BEGIN, 1)
        _, tail = rest.split(DOC_END, 1)
    except ValueError:
        raise ValueError(f"the document lacks the markers {DOC_BEGIN!r} … {DOC_END!r}") from None
    return f"{head}{DOC_BEGIN}\n\n{contract_markdown(contract)}\n{DOC_END}{tail}"
