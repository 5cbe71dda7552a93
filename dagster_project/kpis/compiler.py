"""The KPI compiler: the SQL of the `kpi_values` and `kpi_dictionary` models, from the catalogue.

`kpi definitions compile` writes the two models into `dbt_project/models/marts/kpi/`; the run's
dbt preparation (`defs/transform.py`) rewrites them when they are stale, so that adding a KPI
stays adding YAML; `kpi definitions check` fails on stale ones.

For every KPI metric (sorted by kpi_id), per org unit of dim_org_units (its whole subtree, through
int_org_unit_closure) and per month, quarter and year of int_periods, `kpi_values` computes:
  - every measure the metric needs, aggregated from the fact rows of the period (never by
    combining child values, so parents, quarters and years are exact for distinct counts too);
  - the metric value, following the metric graph as MetricFlow does: simple → the measure;
    ratio → numerator / denominator (0 → no value); derived → its expr over its input metrics,
    an input with offset_window read from the same unit's period that much earlier;
  - numerator and denominator (`MetricGraph.parts`), and sample_size: the denominator, for KPIs
    with a min_sample.
Conventions (docs/kpi_definitions.md): a semantic model's `org_unit` entity names the fact's org
unit (a model without one, such as the calendar, applies to every unit); measures named
<name>_month/_quarter/_year are period-relative and the compiler uses the sibling of the grain.

The generated text is still a dbt model: `ref()`, dbt's cross-database macros, the engine forms
of macros/cross_db.sql and the partition window of macros/partition_window.sql (which only dbt
knows at run time) stay Jinja calls in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dagster_project.kpis.catalog import KpiCatalog, KpiDefinition, load_catalog
from dagster_project.kpis.definitions import KpiDefinitionError
from dagster_project.kpis.dictionary import kpi_dictionary_sql
from dagster_project.kpis.graph import Measure, MetricGraph, OffsetWindow
from dagster_project.kpis.templating import HEADER, KpiCompileError, jinja_string, no_jinja

KPI_MODELS_DIR = Path("models/marts/kpi")  # in the dbt project
KPI_VALUES_MODEL = KPI_MODELS_DIR / "kpi_values.sql"
KPI_DICTIONARY_MODEL = KPI_MODELS_DIR / "kpi_dictionary.sql"
GRAINS = ("month", "quarter", "year")
# The columns of kpi_values (its contract is kpi_values.yml) before value_status, which is computed.
KPI_VALUES_COLUMNS = (
    "kpi_id",
    "period_grain",
    "period_start",
    "org_unit_id",
    "value",
    "numerator",
    "denominator",
    "sample_size",
)
# Aggregations whose empty result is 0, not NULL: a unit without fact rows in a period has 0 of them.
ADDITIVE_AGGS = ("sum", "count", "count_distinct", "sum_boolean")


# --- writing the models ----------------------------------------------------------------------------


def generated_models(catalog: KpiCatalog) -> dict[Path, str]:
    """The text of each generated model, by its path in the dbt project."""
    return {KPI_VALUES_MODEL: kpi_values_sql(catalog), KPI_DICTIONARY_MODEL: kpi_dictionary_sql(catalog)}


def stale_models(dbt_project_dir: Path, catalog: KpiCatalog) -> list[Path]:
    """The generated models of the project whose text differs from what the catalogue generates."""
    return [
        dbt_project_dir / path
        for path, text in generated_models(catalog).items()
        if not (dbt_project_dir / path).is_file() or (dbt_project_dir / path).read_text("utf-8") != text
    ]


def write_models(dbt_project_dir: Path, catalog: KpiCatalog) -> list[Path]:
    """Write the stale generated models; returns the files written."""
    written = []
    for path, text in generated_models(catalog).items():
        target = dbt_project_dir / path
        if not target.is_file() or target.read_text("utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def refresh_models(definitions_dir: Path, dbt_project_dir: Path) -> list[Path]:
    """Regenerate the stale models of the project; returns the files written. Invalid definitions
    leave the models as they are: the checks (and dbt) report them where they are."""
    try:
        catalog = load_catalog(definitions_dir)
    except KpiDefinitionError:
        return []
    return write_models(dbt_project_dir, catalog)


def dbt_project_beside(definitions_dir: Path) -> Path:
    """The dbt project that reads a definitions folder (its model-paths name ../kpi_definitions)."""
    return definitions_dir.expanduser().resolve().parent / "dbt_project"


# --- kpi_values -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """The measures read from one semantic model by one time expression: one aggregation CTE."""

    key: str
    model: str
    time_expr: str
    org_unit_expr: str | None
    measures: tuple[Measure, ...]


def kpi_values_sql(catalog: KpiCatalog) -> str:
    graph = catalog.graph
    kpis = graph.kpis()
    uses = [use for kpi in kpis for use in kpi.uses]
    measure_names = sorted({use.measure for use in uses})
    offsets = sorted({use.offset for use in uses if use.offset}, key=lambda offset: offset.key)
    offset_measures = {use.measure for use in uses if use.offset}
    sources = _sources(graph, measure_names)
    definitions = {kpi.kpi_id: kpi for kpi in catalog.kpis}
    offset_periods = "".join(
        f"\n        or {{{{ kpi_periods_in_window(window, 'period_grain', 'period_start', "
        f"[{offset.count}, '{offset.granularity}']) }}}}"
        for offset in offsets
    )
    ctes = "".join(_source_cte(graph, source, offsets, offset_measures) for source in sources)
    kpi_rows = "\n    union all".join(_kpi_row(graph, definitions[kpi.kpi_id], offsets) for kpi in kpis)
    return f"""{HEADER}
-- Every KPI for every org unit and every month, quarter and year (see kpi_values.yml).
-- Incremental: a partitioned run (KPI_MONTH_FROM/KPI_MONTH_TO) replaces the rows of its months
-- and of the quarters and years they belong to; see macros/partition_window.sql.
{{{{ config(
    materialized=kpi_partitioned_materialization(),
    incremental_strategy=kpi_incremental_strategy(),
    unique_key=['kpi_id', 'period_grain', 'period_start', 'org_unit_id'],
    on_schema_change='fail',
) }}}}
{{%- set double = type_double() %}}
{{#- A partitioned run reads, for each grain, only the facts of the window's periods of that grain
    and of the earlier periods its offset metrics compare with. #}}
{{%- set window = kpi_month_window() %}}

with org_units as (
    select org_unit_id from {{{{ ref('dim_org_units') }}}}
),

periods as (
    select period_grain, period_start from {{{{ ref('int_periods') }}}}
    {{%- if window is not none %}}
    where {{{{ kpi_periods_in_window(window, 'period_grain', 'period_start') }}}}{offset_periods}
    {{%- endif %}}
),

closure as (
    select ancestor_org_unit_id, org_unit_id from {{{{ ref('int_org_unit_closure') }}}}
),

spine as (
    select org_units.org_unit_id, periods.period_grain, periods.period_start
    from org_units
    cross join periods
),
{ctes}
measures as (
    select
        spine.org_unit_id,
        spine.period_grain,
        spine.period_start{_measure_columns(sources)}
    from spine{_measure_joins(sources)}
),

kpi_rows as ({kpi_rows}
)

select
    {", ".join(KPI_VALUES_COLUMNS)},
    case
        when value is null then 'no_data'
        when min_sample is not null and coalesce(sample_size, 0) < min_sample then 'low_sample'
        else 'ok'
    end as value_status
from kpi_rows
{{%- if window is not none %}}
where {{{{ kpi_periods_in_window(window, 'period_grain', 'period_start') }}}}
{{%- endif %}}
"""


def _sources(graph: MetricGraph, measure_names: list[str]) -> list[_Source]:
    """The measures grouped by (semantic model, time expression), in the order of their names."""
    grouped: dict[str, list[Measure]] = {}
    for name in measure_names:
        if name not in graph.measures:
            raise KpiCompileError(f"measure {name!r} is not defined in any semantic model")
        measure = graph.measures[name]
        for text in (measure.sql, measure.time_expr, measure.org_unit_expr or ""):
            no_jinja(text, f"measure {name!r}")
        if measure.model is None:
            raise KpiCompileError(
                f"semantic model {measure.semantic_model!r} needs `model: ref('<dbt model>')`"
            )
        grouped.setdefault(_source_key(measure), []).append(measure)
    return [
        _Source(key, group[0].model or "", group[0].time_expr, group[0].org_unit_expr, tuple(group))
        for key, group in grouped.items()
    ]


def _source_key(measure: Measure) -> str:
    return f"{measure.semantic_model}__{re.sub(r'[^a-zA-Z0-9_]', '_', measure.time_expr)}"


def _source_cte(
    graph: MetricGraph, source: _Source, offsets: list[OffsetWindow], offset_measures: set[str]
) -> str:
    """In a window: the window's periods with every measure, then, when this model has measures
    an offset metric reads, the earlier periods it compares with, with only those measures (a
    year's growth needs last year's revenue, not last year's distinct customers)."""
    has_offset = any(measure.name in offset_measures for measure in source.measures)
    whole = [_source_select(graph, source, grain) for grain in GRAINS]
    windowed = []
    for grain in GRAINS:
        column = jinja_string(f"facts.{source.time_expr}")
        windowed.append(
            _source_select(graph, source, grain, f"{{{{ kpi_fact_range(window, '{grain}', {column}) }}}}")
        )
        if has_offset:
            keys = ", ".join(f"'{offset.key}'" for offset in offsets)
            ranges = f"{{{{ kpi_offset_fact_ranges(window, '{grain}', [{keys}], {column}) }}}}"
            windowed.append(_source_select(graph, source, grain, ranges, offset_measures))
    union = "\n    union all"
    return f"""
{source.key} as (
    {{%- if window is none %}}{union.join(whole)}
    {{%- else %}}{union.join(windowed)}
    {{%- endif %}}
),
"""


def _source_select(
    graph: MetricGraph, source: _Source, grain: str, where: str | None = None, only: set[str] | None = None
) -> str:
    """One grain's aggregation of a source; `only`: the measures computed (the others are null)."""
    org_unit = (
        "closure.ancestor_org_unit_id" if source.org_unit_expr else "cast(null as {{ dbt.type_string() }})"
    )
    time = jinja_string(f"facts.{source.time_expr}")
    columns = "".join(
        f",\n        {_aggregate_sql(graph, measure, grain) if only is None or measure.name in only else 'null'}"
        f" as {measure.name}"
        for measure in source.measures
    )
    join = (
        f"\n    inner join closure on closure.org_unit_id = facts.{source.org_unit_expr}"
        if source.org_unit_expr
        else ""
    )
    return f"""
    select
        {org_unit} as org_unit_id,
        '{grain}' as period_grain,
        cast({{{{ dbt.date_trunc('{grain}', {time}) }}}} as date) as period_start{columns}
    from {{{{ ref('{source.model}') }}}} as facts{join}{f"{chr(10)}    where {where}" if where else ""}
    group by 1, 2, 3"""


def _aggregate_sql(graph: MetricGraph, measure: Measure, grain: str) -> str:
    # Period-relative measures: the sibling of the grain.
    sibling = f"{measure.name.removesuffix('_month')}_{grain}"
    if measure.name.endswith("_month") and sibling in graph.measures:
        measure = graph.measures[sibling]
        no_jinja(measure.sql, f"measure {measure.name!r}")
    expr = measure.sql
    forms = {
        "sum": f"sum({expr})",
        "count": f"count({expr})",
        "count_distinct": f"count(distinct {expr})",
        "sum_boolean": f"sum(case when {expr} then 1 else 0 end)",
        "min": f"min({expr})",
        "max": f"max({expr})",
        "average": f"avg({expr})",
    }
    if measure.agg not in forms:
        raise KpiCompileError(
            f"measure {measure.name!r} uses aggregation {measure.agg}, which KPIs do not support"
        )
    return forms[measure.agg]


def _measure_columns(sources: list[_Source]) -> str:
    return "".join(
        f",\n        coalesce({source.key}.{m.name}, 0) as {m.name}"
        if m.agg in ADDITIVE_AGGS
        else f",\n        {source.key}.{m.name} as {m.name}"
        for source in sources
        for m in source.measures
    )


def _measure_joins(sources: list[_Source]) -> str:
    joins = []
    for source in sources:
        on_unit = (
            f"\n        and {source.key}.org_unit_id = spine.org_unit_id" if source.org_unit_expr else ""
        )
        joins.append(
            f"\n    left join {source.key}"
            f"\n        on {source.key}.period_grain = spine.period_grain"
            f"\n        and {source.key}.period_start = spine.period_start{on_unit}"
        )
    return "".join(joins)


def _kpi_row(graph: MetricGraph, kpi: KpiDefinition, offsets: list[OffsetWindow]) -> str:
    node = graph.kpi(kpi.kpi_id)
    value = _metric_sql(graph, node.metric, "m").text()
    numerator = _metric_sql(graph, node.numerator.metric, _alias(node.numerator.offset)).text()
    denominator = (
        _metric_sql(graph, node.denominator.metric, _alias(node.denominator.offset)).text()
        if node.denominator
        else None
    )
    if kpi.denominator_must_be_positive and denominator is not None:
        value = f"case when {denominator} > 0 then {value} end"
    sample_size = denominator if kpi.min_sample and denominator is not None else "null"
    joins = "".join(
        f"\n    left join measures as {offset.key}"
        f"\n        on {offset.key}.org_unit_id = m.org_unit_id"
        f"\n        and {offset.key}.period_grain = m.period_grain"
        f"\n        and {offset.key}.period_start = cast({{{{ dbt.dateadd('{offset.granularity}', "
        f"{-offset.count}, 'm.period_start') }}}} as date)"
        for offset in offsets
    )
    return f"""
    select
        '{kpi.kpi_id}' as kpi_id,
        m.period_grain,
        m.period_start,
        m.org_unit_id,
        cast({value} as {{{{ double }}}}) as value,
        cast({numerator} as {{{{ double }}}}) as numerator,
        cast({denominator or "null"} as {{{{ double }}}}) as denominator,
        cast({sample_size} as {{{{ dbt.type_bigint() }}}}) as sample_size,
        cast({kpi.min_sample or "null"} as {{{{ dbt.type_bigint() }}}}) as min_sample
    from measures as m{joins}"""


def _alias(offset: OffsetWindow | None) -> str:
    """The row a metric is read from: the period's own (m) or an offset's."""
    return offset.key if offset else "m"


@dataclass(frozen=True)
class _Sql:
    """SQL with Jinja expressions in it: `parts` are literal text (str) or an expression (_Expr).
    Text form for the model; expression form to pass it to a macro (kpi_derived_input)."""

    parts: tuple[str | _Expr, ...]

    def text(self) -> str:
        return "".join(p if isinstance(p, str) else f"{{{{ {p.expr} }}}}" for p in self.parts)

    def expression(self) -> str:
        return " ~ ".join(jinja_string(p) if isinstance(p, str) else p.expr for p in self.parts if p != "")


@dataclass(frozen=True)
class _Expr:
    expr: str


def _sql(*parts: str | _Expr | _Sql) -> _Sql:
    flat: list[str | _Expr] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, _Sql) else (part,))
    return _Sql(tuple(flat))


def _metric_sql(graph: MetricGraph, name: str, alias: str) -> _Sql:
    """A metric's value over the measure columns of row alias `alias`."""
    metric = graph.metrics[name]
    if metric.type == "simple":
        return _sql(f"{alias}.{metric.measure}")
    if metric.type == "ratio":
        numerator, denominator = (_metric_sql(graph, i.name, alias) for i in metric.inputs)
        return _sql(
            "cast(",
            numerator,
            " as ",
            _Expr("double"),
            ") / cast(nullif(",
            denominator,
            ", 0) as ",
            _Expr("double"),
            ")",
        )
    text = str(metric.expr)
    no_jinja(text, f"metric {name!r}")
    # Through placeholders, so that a replacement is never replaced again.
    inputs = {}
    for number, item in enumerate(metric.inputs, start=1):
        placeholder = f"__kpi_input_{number}__"
        text = re.sub(rf"\b{re.escape(item.used_as)}\b", placeholder, text)
        inner = _metric_sql(graph, item.name, _alias(item.offset) if item.offset else alias)
        inputs[placeholder] = _Expr(f"kpi_derived_input({inner.expression()})")
    pieces: list[str | _Expr] = []
    for piece in re.split(r"(__kpi_input_\d+__)", text):
        pieces.append(inputs.get(piece, piece))
    return _sql("(", *pieces, ")")
