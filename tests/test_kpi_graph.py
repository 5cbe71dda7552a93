"""The metric graph (dagster_project/kpis/graph.py) on a tiny set of definitions in memory."""

from __future__ import annotations

from typing import Any

import pytest

from dagster_project.kpis.graph import (
    MeasureUse,
    MetricGraph,
    MetricGraphError,
    MetricInput,
    OffsetWindow,
    Part,
)
from dagster_project.settings import KPI_DEFINITIONS_DIR

SEMANTIC = "defs/semantic_models/models.yml"
METRICS = "defs/metrics/metrics.yml"


def kpi(raw: dict[str, Any]) -> dict[str, Any]:
    """A metric that is a KPI (the graph only needs its kpi_id)."""
    return {**raw, "config": {"meta": {"kpi_id": raw["name"]}}}


def simple(name: str, measure: str | None = None) -> dict[str, Any]:
    return {"name": name, "type": "simple", "type_params": {"measure": {"name": measure or name}}}


SALES = {
    "name": "sales",
    "model": "ref('fct_sales')",
    "defaults": {"agg_time_dimension": "order_date"},
    "entities": [{"name": "org_unit", "type": "foreign", "expr": "unit_id"}],
    "dimensions": [{"name": "order_date", "type": "time", "expr": "cast(ordered_at as date)"}],
    "measures": [
        {"name": "revenue", "agg": "sum", "expr": "amount"},
        {"name": "orders", "agg": "count_distinct", "expr": "order_id"},
        {"name": "shipped", "agg": "sum", "agg_time_dimension": "ship_date"},
    ],
}
CALENDAR = {
    "name": "calendar",
    "model": "ref('calendar_days')",
    "defaults": {"agg_time_dimension": "day"},
    "measures": [{"name": "days", "agg": "sum", "expr": "1"}],
}
TINY_METRICS = [
    simple("revenue"),
    simple("orders"),
    simple("days"),
    kpi({"name": "aov", "type": "ratio", "type_params": {"numerator": "revenue", "denominator": "orders"}}),
    kpi(
        {
            "name": "aov_pct",
            "type": "derived",
            "type_params": {"expr": "100 * aov", "metrics": ["aov"]},
        }
    ),
    kpi(
        {
            "name": "growth",
            "type": "derived",
            "type_params": {
                "expr": "revenue / revenue_ly - 1",
                "metrics": [
                    {"name": "revenue"},
                    {"name": "revenue", "offset_window": "1 years", "alias": "revenue_ly"},
                ],
            },
        }
    ),
    kpi(
        {
            "name": "revenue_per_day",
            "type": "derived",
            "type_params": {"expr": "revenue / days", "metrics": ["revenue", "days"]},
        }
    ),
]


def tiny(metrics: list[dict[str, Any]] = TINY_METRICS) -> MetricGraph:
    return MetricGraph.from_files(
        {SEMANTIC: {"semantic_models": [SALES, CALENDAR]}, METRICS: {"metrics": metrics}}
    )


def test_measures_are_resolved_with_their_time_and_org_unit_expressions() -> None:
    graph = tiny()
    revenue = graph.measures["revenue"]
    assert (revenue.semantic_model, revenue.model, revenue.sql) == ("sales", "fct_sales", "amount")
    assert revenue.time_expr == "cast(ordered_at as date)"  # the dimension's expr
    assert revenue.org_unit_expr == "unit_id"
    assert graph.measures["shipped"].time_expr == "ship_date"  # the measure's own time dimension
    assert graph.measures["shipped"].sql == "shipped"  # no expr: the name
    assert graph.measures["days"].org_unit_expr is None  # no org_unit entity: every unit


def test_offset_windows_parse_as_dbt_does() -> None:
    assert OffsetWindow.parse("1 year") == OffsetWindow(1, "year")
    assert OffsetWindow.parse("2 Months") == OffsetWindow(2, "month")
    assert OffsetWindow.parse("1 year").key == "off_1_year"
    assert OffsetWindow.parse("a year") is None
    assert OffsetWindow.parse("1year") is None
    growth = tiny().metrics["growth"]
    assert growth.inputs == (
        MetricInput("revenue"),
        MetricInput("revenue", "revenue_ly", OffsetWindow(1, "year")),
    )


def test_kpis_walk_to_their_measures_and_parts() -> None:
    graph = tiny()
    assert list(graph.kpi_metrics) == ["aov", "aov_pct", "growth", "revenue_per_day"]
    aov_pct = graph.kpi("aov_pct")
    assert aov_pct.uses == (MeasureUse("revenue", None), MeasureUse("orders", None))
    assert (aov_pct.numerator, aov_pct.denominator) == (
        Part("revenue"),
        Part("orders"),
    )  # the ratio it scales
    growth = graph.kpi("growth")
    assert growth.uses == (MeasureUse("revenue", None), MeasureUse("revenue", OffsetWindow(1, "year")))
    assert (growth.numerator, growth.denominator) == (
        Part("revenue"),
        Part("revenue", OffsetWindow(1, "year")),
    )
    per_day = graph.kpi("revenue_per_day")
    assert (per_day.numerator, per_day.denominator) == (Part("revenue_per_day"), None)  # not a ratio


def test_order_puts_inputs_first() -> None:
    order = tiny().order()
    assert set(order) == {m["name"] for m in TINY_METRICS}
    assert order.index("revenue") < order.index("aov") < order.index("aov_pct")


def test_nested_offset_windows_are_refused() -> None:
    nested = {
        "name": "growth_of_growth",
        "type": "derived",
        "type_params": {
            "expr": "g - g_ly",
            "metrics": ["growth", {"name": "growth", "offset_window": "1 year", "alias": "g_ly"}],
        },
    }
    with pytest.raises(MetricGraphError, match="nests offset windows"):
        tiny([*TINY_METRICS, kpi(nested)]).measure_uses("growth_of_growth")


def test_references_and_cycles_are_reported() -> None:
    loop = [
        {"name": "a", "type": "derived", "type_params": {"expr": "b + 1", "metrics": ["b"]}},
        {"name": "b", "type": "ratio", "type_params": {"numerator": "a", "denominator": "nowhere"}},
        simple("c", "no_such_measure"),
        {
            "name": "d",
            "type": "derived",
            "type_params": {"expr": "2 * c", "metrics": [{"name": "c", "offset_window": "soon"}]},
        },
        {"name": "e", "type": "cumulative", "type_params": {}},
    ]
    graph = tiny(loop)
    assert graph.cycles() == [("a", ("a", "b", "a"))]
    assert graph.reference_problems(loop[1]) == [
        ("type_params.denominator", "metric 'nowhere' does not exist")
    ]
    assert graph.reference_problems(loop[2]) == [
        ("type_params.measure", "measure 'no_such_measure' does not exist in any semantic model")
    ]
    assert graph.reference_problems(loop[3]) == [
        ("type_params.metrics", "offset_window 'soon' of 'c' is not `<count> <granularity>`")
    ]
    assert graph.reference_problems(loop[4])[0][0] == "type"
    assert graph.reference_problems(loop[0]) == []


def test_duplicate_measures_are_problems() -> None:
    twice = {**CALENDAR, "name": "calendar_again"}
    graph = MetricGraph.from_files({SEMANTIC: {"semantic_models": [CALENDAR, twice]}})
    assert [p.message for p in graph.measure_problems] == [
        f"semantic model calendar_again: measure 'days' is also defined in {SEMANTIC} (semantic model calendar)"
    ]


def test_the_real_catalogue_resolves() -> None:
    from dagster_project.kpis.catalog import load_catalog

    graph = load_catalog(KPI_DEFINITIONS_DIR).graph
    growth = graph.kpi("revenue_growth_yoy_pct")
    assert {use.offset for use in growth.uses} == {None, OffsetWindow(1, "year")}
    assert {graph.measures[use.measure].semantic_model for use in growth.uses} == {"sales_lines", "returns"}
    days = graph.kpi("days_of_inventory")
    assert "days_in_period" in {use.measure for use in days.uses}


def test_provenance_lists_the_semantic_models_and_offsets_a_kpi_reads() -> None:
    from dagster_project.audit.provenance import kpi_inputs

    manifest = {
        "nodes": {
            "model.p.fct_sales": {
                "name": "fct_sales",
                "resource_type": "model",
                "depends_on": {"nodes": ["model.p.stg"]},
            },
            "model.p.stg": {
                "name": "stg",
                "resource_type": "model",
                "depends_on": {"nodes": ["source.p.raw.sales_lines"]},
            },
            "model.p.calendar_days": {
                "name": "calendar_days",
                "resource_type": "model",
                "depends_on": {"nodes": []},
            },
        },
        "sources": {"source.p.raw.sales_lines": {"source_name": "raw", "name": "sales_lines"}},
    }
    rows = {
        (i.kpi_id, i.semantic_model, i.model, i.source_entities, i.offset_months)
        for i in kpi_inputs(tiny(), manifest)
    }
    assert {r for r in rows if r[0] == "growth"} == {
        ("growth", "sales", "fct_sales", ("sales_lines",), 0),
        ("growth", "sales", "fct_sales", ("sales_lines",), 12),  # the same period a year earlier
    }
    assert ("revenue_per_day", "calendar", "calendar_days", (), 0) in rows
