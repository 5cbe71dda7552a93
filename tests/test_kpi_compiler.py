"""The KPI compiler (dagster_project/kpis/compiler.py): SQL generated from a tiny set of definitions,
and the checked-in models are what the real definitions generate.

That the generated SQL computes the right numbers is tested end to end by the oracles of
tests/test_kpi_values.py and by tests/test_add_kpi.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from dagster_project.cli.app import app
from dagster_project.kpis.catalog import KpiCatalog, load_catalog
from dagster_project.kpis.compiler import (
    KPI_DICTIONARY_MODEL,
    KPI_VALUES_MODEL,
    dbt_project_beside,
    generated_models,
    kpi_values_sql,
    refresh_models,
    stale_models,
    write_models,
)
from dagster_project.kpis.dictionary import kpi_dictionary_sql
from dagster_project.kpis.templating import KpiCompileError
from dagster_project.settings import DBT_PROJECT_DIR, KPI_DEFINITIONS_DIR
from tests.test_kpi_graph import CALENDAR, SALES, TINY_METRICS


def governed(raw: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """A tiny metric with every governance field a KPI needs."""
    fields = {
        "kpi_id": raw["name"],
        "label": raw["name"].title(),
        "label_zh": "指标",
        "description": "It's a test KPI.",
        "formula": "see type_params",
        "owner": "Tests",
        "perspective": "financial",
        "kind": "result",
        "unit": "ratio",
        "polarity": "higher_is_better",
        "decimals": 1,
        "status_rule": {"type": "ratio"},
        "weight": 0.5,
        "version": 1,
        "changelog": [{"version": 1, "date": "2025-01-01", "change": "First definition."}],
    }
    return {**raw, "config": {"meta": {**fields, **meta}}}


def write_definitions(root: Path, metrics: list[dict[str, Any]]) -> Path:
    folder = root / "kpi_definitions"
    (folder / "semantic_models").mkdir(parents=True)
    (folder / "metrics").mkdir()
    models = {"version": 2, "semantic_models": [SALES, CALENDAR]}
    (folder / "semantic_models/models.yml").write_text(yaml.safe_dump(models), encoding="utf-8")
    (folder / "metrics/metrics.yml").write_text(
        yaml.safe_dump({"version": 2, "metrics": metrics}), encoding="utf-8"
    )
    return folder


def tiny_metrics(**aov_meta: Any) -> list[dict[str, Any]]:
    metrics = [
        m if "config" not in m else governed({k: v for k, v in m.items() if k != "config"})
        for m in TINY_METRICS
    ]
    metrics[3] = governed({k: v for k, v in TINY_METRICS[3].items() if k != "config"}, **aov_meta)
    return metrics


@pytest.fixture
def catalog(tmp_path: Path) -> KpiCatalog:
    return load_catalog(
        write_definitions(tmp_path, tiny_metrics(min_sample=30, denominator_must_be_positive=True))
    )


def flat(sql: str) -> str:
    return " ".join(sql.split())


def test_one_aggregation_per_semantic_model_and_time_expression(catalog: KpiCatalog) -> None:
    sql = flat(kpi_values_sql(catalog))
    assert "sales__cast_ordered_at_as_date_ as (" in sql and "calendar__day as (" in sql
    assert "count(distinct order_id) as orders, sum(amount) as revenue" in sql  # by name
    assert (
        "from {{ ref('fct_sales') }} as facts inner join closure on closure.org_unit_id = facts.unit_id"
        in sql
    )
    # the calendar has no org unit: the same for every unit
    assert "cast(null as {{ dbt.type_string() }}) as org_unit_id" in sql
    assert (
        "cast({{ dbt.date_trunc('quarter', 'facts.cast(ordered_at as date)') }} as date) as period_start"
        in sql
    )
    # additive measures are 0 where a unit has no rows
    assert "coalesce(sales__cast_ordered_at_as_date_.revenue, 0) as revenue" in sql


def test_metric_values_follow_the_graph(catalog: KpiCatalog) -> None:
    sql = flat(kpi_values_sql(catalog))
    ratio = "cast(m.revenue as {{ double }}) / cast(nullif(m.orders, 0) as {{ double }})"
    # aov: a ratio whose denominator must be positive, with a min_sample: sample_size is the denominator
    assert f"cast(case when m.orders > 0 then {ratio} end as {{{{ double }}}}) as value" in sql
    assert (
        "cast(m.orders as {{ dbt.type_bigint() }}) as sample_size, cast(30 as {{ dbt.type_bigint() }}) as min_sample"
        in sql
    )
    # a derived input goes through the engine's macro; its SQL is passed as a Jinja expression
    assert (
        "(100 * {{ kpi_derived_input('cast(' ~ 'm.revenue' ~ ' as ' ~ double ~ ') / cast(nullif(' ~ 'm.orders'"
        in sql
    )
    # growth: the offset input is read from the row a year earlier; parts are current and offset
    assert "({{ kpi_derived_input('m.revenue') }} / {{ kpi_derived_input('off_1_year.revenue') }} - 1)" in sql
    assert (
        "cast(m.revenue as {{ double }}) as numerator, cast(off_1_year.revenue as {{ double }}) as denominator"
        in sql
    )
    assert (
        "left join measures as off_1_year on off_1_year.org_unit_id = m.org_unit_id and off_1_year.period_grain "
        "= m.period_grain and off_1_year.period_start = cast({{ dbt.dateadd('year', -1, 'm.period_start') }} as date)"
    ) in sql


def test_a_partitioned_run_reads_the_window_and_what_offsets_compare_with(catalog: KpiCatalog) -> None:
    sql = flat(kpi_values_sql(catalog))
    assert "{%- set window = kpi_month_window() %}" in sql
    assert "or {{ kpi_periods_in_window(window, 'period_grain', 'period_start', [1, 'year']) }}" in sql
    assert "where {{ kpi_fact_range(window, 'month', 'facts.cast(ordered_at as date)') }}" in sql
    # only the sales model has a measure an offset reads, and only that measure is computed there
    assert sql.count("kpi_offset_fact_ranges(window, 'month', ['off_1_year']") == 1
    assert "null as orders" in sql


def test_the_dictionary_carries_the_resolved_status_rule(catalog: KpiCatalog) -> None:
    sql = flat(kpi_dictionary_sql(catalog))
    assert (
        "cast(1.0 as {{ double }}) as green_at, cast(0.9 as {{ double }}) as amber_at" in sql
    )  # the defaults
    assert (
        "cast('revenue, orders' as" not in sql
        and "cast('orders, revenue' as {{ dbt.type_string() }}) as measures" in sql
    )
    # a quote goes through the engine's escaping, not into the SQL as it is
    assert (
        "cast('{{ dbt.escape_single_quotes('It\\'s a test KPI.') }}' as {{ dbt.type_string() }}) as description"
        in sql
    )
    assert "cast({{ kpi_definition_hash('aov') }} as {{ dbt.type_string() }}) as definition_hash" in sql


def test_sql_that_would_read_as_jinja_is_refused(tmp_path: Path) -> None:
    metrics = tiny_metrics()
    metrics[6] = governed(
        {
            "name": "revenue_per_day",
            "type": "derived",
            "type_params": {"expr": "revenue / {{ days }}", "metrics": ["revenue", "days"]},
        }
    )
    with pytest.raises(KpiCompileError, match="Jinja delimiters"):
        kpi_values_sql(load_catalog(write_definitions(tmp_path, metrics)))


def test_models_are_written_when_stale_and_only_then(tmp_path: Path) -> None:
    definitions = write_definitions(tmp_path, tiny_metrics())
    project = dbt_project_beside(definitions)
    (project / KPI_VALUES_MODEL).parent.mkdir(parents=True)
    assert project == tmp_path / "dbt_project"
    catalog = load_catalog(definitions)
    assert stale_models(project, catalog) == [project / KPI_VALUES_MODEL, project / KPI_DICTIONARY_MODEL]
    assert write_models(project, catalog) == [project / KPI_VALUES_MODEL, project / KPI_DICTIONARY_MODEL]
    assert stale_models(project, catalog) == [] and refresh_models(definitions, project) == []
    # broken definitions leave the models alone: the checks report them
    (definitions / "metrics/metrics.yml").write_text("metrics: [{name: x, type: simple}]", encoding="utf-8")
    assert refresh_models(definitions, project) == []


def test_the_checked_in_models_are_what_the_definitions_generate() -> None:
    for path, text in generated_models(load_catalog(KPI_DEFINITIONS_DIR)).items():
        assert (DBT_PROJECT_DIR / path).read_text("utf-8") == text, (
            f"run `kpi definitions compile`: {path} is stale"
        )


def test_cli_check_fails_on_a_stale_model_and_compile_fixes_it(tmp_path: Path) -> None:
    definitions = write_definitions(tmp_path, tiny_metrics())
    project = dbt_project_beside(definitions)
    (project / KPI_VALUES_MODEL).parent.mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: tiny\n", encoding="utf-8")
    stale = CliRunner().invoke(app, ["definitions", "check", "--definitions-dir", str(definitions)])
    assert stale.exit_code == 2
    assert "Run `kpi definitions compile`" in stale.output and "kpi_values.sql" in stale.output
    compiled = CliRunner().invoke(app, ["definitions", "compile", "--definitions-dir", str(definitions)])
    assert compiled.exit_code == 0 and compiled.output.count("Updated ") == 2
    assert (
        CliRunner().invoke(app, ["definitions", "check", "--definitions-dir", str(definitions)]).exit_code
        == 0
    )
    again = CliRunner().invoke(app, ["definitions", "compile", "--definitions-dir", str(definitions)])
    assert "up to date" in again.output
