"""The machine-readable contract is consistent, and the documentation is generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.contract import CONTRACT_FILE, Contract, load_contract, render_contract_doc
from dagster_project.settings import PROJECT_ROOT


def test_contract_defines_the_ten_entities(contract: Contract) -> None:
    assert list(contract.entities) == [
        "org_units", "products", "employees", "sales_lines", "returns",
        "inventory_snapshots", "survey_responses", "complaints", "training_records", "engagement_surveys",
    ]  # fmt: skip
    assert contract.entity("sales_lines").key == ("order_id", "line_no")
    assert contract.entity("inventory_snapshots").key == ("snapshot_date", "org_unit_id", "sku")
    assert contract.entity("returns").upstream_entities == ("sales_lines",)
    assert contract.entity("sales_lines").upstream_entities == ("employees", "org_units", "products")
    assert contract.entity("employees").key == ("employee_id", "valid_from")
    assert contract.entity("employees").upstream_entities == ("org_units",)  # manager_id: itself
    groups = {name: entity.group for name, entity in contract.entities.items()}
    assert groups["returns"] == groups["sales_lines"] == "sales"
    assert groups["survey_responses"] == groups["complaints"] == "satisfaction"
    assert groups["employees"] == groups["training_records"] == groups["engagement_surveys"] == "people"


def test_the_people_columns_on_v1_entities_are_optional(contract: Contract) -> None:
    """A v1 file has neither column and loads unchanged: the columns are then empty."""
    for entity, column in (("sales_lines", "salesperson_id"), ("complaints", "handler_id")):
        declared = contract.entity(entity).column(column)
        assert not declared.required
        assert declared.references == ("employees", "employee_id")
        assert column not in contract.entity(entity).required_columns


def test_entities_are_listed_in_dependency_order(contract: Contract) -> None:
    seen: set[str] = set()
    for name, entity in contract.entities.items():
        assert set(entity.upstream_entities) <= seen, name
        seen.add(name)


def test_data_contract_doc_is_generated_from_the_yaml() -> None:
    document = (PROJECT_ROOT / "docs" / "data_contract.md").read_text(encoding="utf-8")
    assert render_contract_doc(document) == document, "run `kpi contract docs` to regenerate the tables"
    assert "| `quantity` | integer; > 0 | Units sold. |" in document


def test_a_broken_contract_is_reported_with_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "contract.yaml"
    broken.write_text(CONTRACT_FILE.read_text().replace("type: integer", "type: int", 1))
    with pytest.raises(ValueError, match=r"contract.yaml: sales_lines.line_no: unknown type 'int'"):
        load_contract(broken)


def test_dbt_falls_back_to_the_default_date_window_of_the_settings() -> None:
    """dbt run by hand (no KPI_DATE_* variables) bounds the calendar by the default settings' window."""
    from dagster_project.settings import default_date_window

    macro = (PROJECT_ROOT / "dbt_project" / "macros" / "date_window.sql").read_text(encoding="utf-8")
    window = default_date_window()
    assert f"env_var('KPI_DATE_FROM', '') or '{window.earliest.isoformat()}'" in macro
    assert f"env_var('KPI_DATE_FUTURE_DAYS', '') or '{window.future_days}'" in macro
