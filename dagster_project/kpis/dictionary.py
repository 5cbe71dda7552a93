"""The SQL of the `kpi_dictionary` model: one row per KPI with its governance fields and resolved
status rule, from the catalogue (written by `compiler.py`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dagster_project.kpis.definitions import metric_meta
from dagster_project.kpis.graph import MeasureUse
from dagster_project.kpis.templating import HEADER, JINJA_MARKERS, jinja_string

if TYPE_CHECKING:
    from dagster_project.kpis.catalog import KpiCatalog, KpiDefinition

# (column, SQL type) of the dictionary: text and double are the engine's (_DICTIONARY_TYPES)
# fmt: off
DICTIONARY_COLUMNS = (
    ("kpi_id", "text"), ("metric_name", "text"), ("metric_type", "text"), ("label", "text"),
    ("label_zh", "text"), ("description", "text"), ("formula", "text"), ("owner", "text"),
    ("perspective", "text"), ("kind", "text"), ("unit", "text"), ("polarity", "text"),
    ("decimals", "integer"), ("status_rule", "text"), ("green_at", "double"), ("amber_at", "double"),
    ("amber_band", "double"), ("weight", "double"), ("min_sample", "integer"), ("valid_min", "double"),
    ("valid_max", "double"), ("definition_version", "integer"), ("changelog", "text"),
    ("measures", "text"), ("definition_file", "text"), ("definition_hash", "text"),
)
# fmt: on
_DICTIONARY_TYPES = {"text": "{{ dbt.type_string() }}", "double": "{{ double }}", "integer": "integer"}


def kpi_dictionary_sql(catalog: KpiCatalog) -> str:
    """One row per KPI metric, sorted by kpi_id, with its governance fields and resolved status rule."""
    definitions = {kpi.kpi_id: kpi for kpi in catalog.kpis}
    rows = "\n    union all".join(
        _dictionary_row(catalog, definitions[node.kpi_id], node.uses) for node in catalog.graph.kpis()
    )
    return f"""{HEADER}
-- The KPI dictionary: one row per KPI, from its definition (see kpi_dictionary.yml).
{{%- set double = type_double() %}}
{rows}
"""


def _dictionary_row(catalog: KpiCatalog, kpi: KpiDefinition, uses: tuple[MeasureUse, ...]) -> str:
    meta = metric_meta(kpi.raw)
    rule = kpi.status_rule
    valid_range = meta.get("valid_range") or {}
    values = {
        "kpi_id": kpi.kpi_id,
        "metric_name": kpi.metric,
        "metric_type": kpi.metric_type,
        "label": meta.get("label") or kpi.raw.get("label"),
        "label_zh": meta.get("label_zh"),
        "description": (meta.get("description") or kpi.raw.get("description") or "").strip(),
        "formula": meta.get("formula"),
        "owner": meta.get("owner"),
        "perspective": meta.get("perspective"),
        "kind": meta.get("kind"),
        "unit": meta.get("unit"),
        "polarity": meta.get("polarity"),
        "decimals": meta.get("decimals"),
        "status_rule": rule.type,
        "green_at": rule.green_at,
        "amber_at": rule.amber_at,
        "amber_band": rule.amber_band,
        "weight": meta.get("weight"),
        "min_sample": meta.get("min_sample"),
        "valid_min": valid_range.get("min"),
        "valid_max": valid_range.get("max"),
        "definition_version": meta.get("version"),
        "changelog": json.dumps(meta.get("changelog") or []),
        "measures": ", ".join(sorted({use.measure for use in uses})),
        "definition_file": kpi.file,
    }
    columns = [
        f"cast({_sql_literal(values[name])} as {_DICTIONARY_TYPES[kind]}) as {name}"
        for name, kind in DICTIONARY_COLUMNS
        if name != "definition_hash"
    ]
    # dbt's own parse of the metric is what the hash covers, and only dbt knows it.
    columns.append(
        f"cast({{{{ kpi_definition_hash('{kpi.metric}') }}}} as {_DICTIONARY_TYPES['text']}) as definition_hash"
    )
    body = ",\n        ".join(columns)
    return f"""
    select
        {body}"""


def _sql_literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if "'" in text or any(marker in text for marker in JINJA_MARKERS):
        # the engine's escaping (dbt.escape_single_quotes), and no Jinja read into the text
        return f"'{{{{ dbt.escape_single_quotes({jinja_string(text)}) }}}}'"
    return f"'{text}'"
