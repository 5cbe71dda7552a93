"""The dbt unit tests (the `unit_tests:` of the models' YAML), in the fast lane: dbt builds every
model with `--empty` over an empty warehouse (the extractor's tables, no rows), so the unit tests can
read their inputs' column types, then runs them. No pipeline and no sample data."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from dagster_project.contract import load_contract
from dagster_project.extract.ddl import ensure_warehouse_schema
from tests.helpers import run_dbt


def test_dbt_unit_tests_pass(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        ensure_warehouse_schema(con, load_contract())
    target = tmp_path / "target"
    run_dbt(
        "build", "--empty", "--exclude", "test_type:data",
        "--target-path", str(target), "--log-path", str(tmp_path / "logs"),
        data_dir=data_dir,
    )  # fmt: skip
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))["results"]
    statuses = {
        result["unique_id"].rsplit(".", 1)[-1]: result["status"]
        for result in results
        if result["unique_id"].startswith("unit_test.")
    }
    assert set(statuses.values()) == {"pass"}, statuses
    expected = {
        "scorecard_ratio_rule_higher_is_better",
        "scorecard_ratio_rule_lower_is_better",
        "scorecard_difference_rule",
        "scorecard_no_target_and_no_data",
        "scorecard_complete_periods_trends_and_attributes",
        "scorecard_scores_two_perspectives_unequal_kpi_weights",
        "scorecard_scores_unequal_perspective_weights",
        "int_targets_in_effect_latest_row_not_after_the_clock",
        "int_complete_periods_end_on_or_before_the_as_of_date",
        "int_scorecard_clock_defaults_to_the_last_order_date_and_today",
        "int_scorecard_clock_uses_kpi_as_of",
    }
    assert expected <= set(statuses), sorted(expected - set(statuses))
