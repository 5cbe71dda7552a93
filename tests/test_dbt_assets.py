"""The dbt project as Dagster assets: lineage from the landing files to the KPI values, tests as checks."""

from __future__ import annotations

import dagster as dg

from dagster_project.definitions import build_definitions
from dagster_project.defs.transform import prepare_dbt
from tests.conftest import BuiltWarehouse


def test_asset_graph_runs_from_extraction_to_kpi_values(built_warehouse: BuiltWarehouse) -> None:
    prepare_dbt()
    graph = build_definitions(built_warehouse.settings).resolve_asset_graph()
    kpi_values = dg.AssetKey(["kpi", "kpi_values"])
    upstream = graph.get(kpi_values).parent_keys
    assert dg.AssetKey(["marts", "fct_sales_lines"]) in upstream
    # dbt's sources are the extract assets themselves, not separate source assets.
    staging_parents = graph.get(dg.AssetKey(["staging", "stg_sales_lines"])).parent_keys
    assert staging_parents == {dg.AssetKey(["raw", "sales_lines"])}
    assert graph.get(dg.AssetKey(["raw", "sales_lines"])).group_name == "sales"
    assert graph.get(kpi_values).group_name == "kpi"
    assert graph.get(dg.AssetKey(["kpi", "kpi_targets"])).group_name == "kpi_definitions"


def test_dbt_tests_are_asset_checks_and_pass(built_warehouse: BuiltWarehouse) -> None:
    summary = built_warehouse.summary
    assert "kpi/kpi_values" in summary.models_built
    assert "kpi/kpi_dictionary" in summary.models_built
    assert summary.checks_failed == []
    assert any(check.startswith("kpi/kpi_values:unique_key_combination") for check in summary.checks_passed)
    assert any(
        check.startswith("kpi/kpi_dictionary:unique_kpi_dictionary_kpi_id") for check in summary.checks_passed
    )


def test_public_models_have_their_contract_types(built_warehouse: BuiltWarehouse) -> None:
    columns = dict(
        built_warehouse.query(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'kpi' and table_name = 'kpi_values'"
        )
    )
    assert columns == {
        "kpi_id": "VARCHAR", "period_grain": "VARCHAR", "period_start": "DATE", "org_unit_id": "VARCHAR",
        "value": "DOUBLE", "numerator": "DOUBLE", "denominator": "DOUBLE", "sample_size": "BIGINT",
        "value_status": "VARCHAR",
    }  # fmt: skip
    kpis, units, periods = built_warehouse.query(
        "select count(distinct kpi_id), count(distinct org_unit_id), count(distinct period_grain || period_start) "
        "from kpi.kpi_values"
    )[0]
    assert (kpis, periods) == (14, 24 + 8 + 2)
    assert built_warehouse.query("select count(*) from kpi.kpi_values") == [(kpis * units * periods,)]
    dictionary = built_warehouse.query(
        "select kpi_id, label_zh, perspective, definition_file from kpi.kpi_dictionary where kpi_id = 'nps'"
    )
    assert dictionary == [("nps", "净推荐值", "customer", "kpi_definitions/metrics/customer.yml")]
