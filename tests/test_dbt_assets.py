"""The dbt project as Dagster assets: lineage from the landing files to the KPI values, tests as checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from dagster_project.definitions import build_definitions
from dagster_project.defs.transform import prepare_dbt
from dagster_project.settings import DBT_PROJECT_DIR, Settings
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
    assert (kpis, periods) == (19, 24 + 8 + 2)
    assert built_warehouse.query("select count(*) from kpi.kpi_values") == [(kpis * units * periods,)]
    dictionary = built_warehouse.query(
        "select kpi_id, label_zh, perspective, definition_file from kpi.kpi_dictionary where kpi_id = 'nps'"
    )
    assert dictionary == [("nps", "净推荐值", "customer", "kpi_definitions/metrics/customer.yml")]


# Every dbt model's relation (schema, name): its Dagster asset key and the name BI tools, the gate
# and the publisher use. A model moved between folders (dbt_project/models/) keeps its relation.
RELATIONS = {
    "staging": {
        "stg_complaints", "stg_employees", "stg_engagement_surveys", "stg_inventory_snapshots", "stg_kpi_targets",
        "stg_org_units", "stg_products", "stg_returns", "stg_sales_lines", "stg_survey_responses",
        "stg_training_records",
    },
    "intermediate": {
        "int_calendar_days", "int_customer_first_orders", "int_employee_assignments", "int_employee_days",
        "int_org_unit_closure", "int_periods",
    },
    "marts": {
        "dim_org_units", "fct_complaints", "fct_employee_days", "fct_engagement_responses", "fct_inventory_snapshots",
        "fct_leavers", "fct_new_customers", "fct_returns", "fct_sales_lines", "fct_survey_responses",
        "fct_training_records",
    },
    "kpi": {"kpi_dictionary", "kpi_values"},
    "scorecard": {
        "int_complete_periods", "int_scorecard_clock", "int_targets_in_effect", "kpi_alerts", "scorecard",
        "scorecard_scores",
    },
    "gate": {
        "gate_kpi_bounds", "gate_kpi_completeness", "gate_quarantine_shares", "gate_revenue_jumps",
        "gate_rollup_reconciliation", "gate_sales_per_month", "gate_staging_integrity",
    },
    "lineage": {"batch_contributions"},
}  # fmt: skip
# The facts and every model built on them: the month-partitioned dbt step (defs/transform.py).
PARTITIONED = {
    "fct_complaints", "fct_employee_days", "fct_engagement_responses", "fct_inventory_snapshots", "fct_leavers",
    "fct_new_customers", "fct_returns", "fct_sales_lines", "fct_survey_responses", "fct_training_records",
    "kpi_values", "scorecard", "scorecard_scores", "kpi_alerts", "batch_contributions",
    "gate_kpi_bounds", "gate_kpi_completeness", "gate_revenue_jumps", "gate_rollup_reconciliation",
}  # fmt: skip


def _models() -> dict[str, dict[str, Any]]:
    manifest = json.loads(prepare_dbt().read_text())
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["package_name"] == "kpi_pipeline"
    }


def test_every_model_keeps_its_relation_and_partitioning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = _models()
    assert {
        schema: {name for name, node in models.items() if node["schema"] == schema} for schema in RELATIONS
    } == RELATIONS
    assert set(models) == set().union(*RELATIONS.values())
    monkeypatch.setenv("KPI_DATA_DIR", str(tmp_path))
    graph = build_definitions(Settings.from_env()).resolve_asset_graph()
    partitioned = {
        name for name, node in models.items() if graph.get(dg.AssetKey([node["schema"], name])).partitions_def
    }
    assert partitioned == PARTITIONED


def test_one_yaml_per_model_beside_it() -> None:
    """Each model's properties (and its unit tests) are in `<model>.yml` next to `<model>.sql`, and
    describe that model only; the sources alone have a file of their own."""
    models_dir = DBT_PROJECT_DIR / "models"
    shared = {models_dir / "staging" / "_sources.yml"}
    for model, node in _models().items():
        if not node["original_file_path"].startswith("models/"):
            continue  # the KPI definitions' models (kpi_definitions/) are documented there
        sql = DBT_PROJECT_DIR / node["original_file_path"]
        assert (
            node["patch_path"] == f"kpi_pipeline://{sql.with_suffix('.yml').relative_to(DBT_PROJECT_DIR)}"
        ), model
    for path in set(models_dir.rglob("*.yml")) - shared:
        properties = yaml.safe_load(path.read_text())
        assert [entry["name"] for entry in properties["models"]] == [path.stem], path
        assert {test["model"] for test in properties.get("unit_tests", [])} <= {path.stem}, path
        assert set(properties) <= {"version", "models", "unit_tests"}, path
