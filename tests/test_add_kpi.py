"""Adding a KPI is adding YAML: a new metric file in a copy of the project, and nothing else.

The repository's `dbt_project/` and `kpi_definitions/` are copied side by side into a temporary
folder, one YAML file defining `units_per_order` is added to the copied `kpi_definitions/metrics/`,
the run's dbt preparation regenerates the KPI models from the definitions (as `prepare_dbt` does),
and dbt builds `kpi_values` and `kpi_dictionary` of the copy against a copy of the sample warehouse.
The new KPI must appear for every org unit and period with the value computed from the raw tables,
and no other file of the copy may differ from the original but the two generated models.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.kpis.catalog import check_definitions
from dagster_project.kpis.compiler import KPI_DICTIONARY_MODEL, KPI_VALUES_MODEL, refresh_models
from dagster_project.settings import DBT_PROJECT_DIR, KPI_DEFINITIONS_DIR, PROJECT_ROOT
from tests.conftest import BuiltWarehouse
from tests.helpers import run_dbt

pytestmark = pytest.mark.e2e

NEW_KPI_FILE = "kpi_definitions/metrics/units_per_order.yml"
# The whole change: one file, in the style of average_order_value (financial.yml).
NEW_KPI_YAML = """\
# A KPI added as YAML only: no SQL or Python changes (tests/test_add_kpi.py).
version: 2

metrics:
  - name: units_per_order
    label: Units per order
    description: Units sold per order.
    type: ratio
    type_params:
      numerator: sold_quantity
      denominator: orders
    config:
      meta:
        kpi_id: units_per_order
        label: Units per order
        label_zh: 单均件数
        description: >-
          The average number of units in an order. A process lever of revenue beside the average
          order value: cross-selling and bundles move it.
        formula: units sold / distinct orders in the period
        owner: Sales operations
        perspective: financial
        kind: process
        unit: ratio
        polarity: higher_is_better
        decimals: 2
        status_rule: {type: ratio, green_at: 1.0, amber_at: 0.95}
        weight: 0.10
        version: 1
        changelog:
          - {version: 1, date: "2025-06-01", change: First definition.}
"""
# Folders dbt writes into, skipped at the top of the dbt project only.
DBT_OUTPUT_DIRS = {"target", "logs"}


def project_files(root: Path) -> dict[str, str]:
    """sha256 of every file under root/dbt_project and root/kpi_definitions, by relative path,
    except dbt's own output folders (dbt_project/target, dbt_project/logs)."""
    files = {}
    for folder in ("dbt_project", "kpi_definitions"):
        for path in sorted((root / folder).rglob("*")):
            relative = path.relative_to(root)
            if folder == "dbt_project" and len(relative.parts) > 1 and relative.parts[1] in DBT_OUTPUT_DIRS:
                continue
            if path.is_file():
                files[relative.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def copy_projects(destination: Path) -> dict[str, str]:
    """Copy dbt_project/ and kpi_definitions/ as siblings; returns the hashes of the originals.

    The hashes are taken just before copying: other people may edit the working tree meanwhile.
    """
    original = project_files(PROJECT_ROOT)

    def skip_output(folder: str, names: list[str]) -> set[str]:
        return DBT_OUTPUT_DIRS & set(names) if Path(folder) == DBT_PROJECT_DIR else set()

    shutil.copytree(DBT_PROJECT_DIR, destination / "dbt_project", ignore=skip_output)
    shutil.copytree(KPI_DEFINITIONS_DIR, destination / "kpi_definitions")
    return original


def raw_units_per_order(con: duckdb.DuckDBPyConnection, unit: str, start: dt.date, end: dt.date) -> float:
    """Units sold / distinct orders of unit's subtree in [start, end), from the raw tables."""
    sold, orders = con.execute(
        """
        with recursive
        units as (select org_unit_id, parent_id from raw.org_units where _superseded_by_batch_id is null),
        subtree(org_unit_id) as (
            select org_unit_id from units where org_unit_id = $unit
            union all
            select units.org_unit_id from units join subtree on units.parent_id = subtree.org_unit_id
        )
        select sum(quantity), count(distinct order_id)
        from raw.sales_lines
        where _superseded_by_batch_id is null
            and order_date >= $start and order_date < $end
            and org_unit_id in (select org_unit_id from subtree)
        """,
        {"unit": unit, "start": start, "end": end},
    ).fetchone()
    assert orders > 0
    return float(sold) / orders


def test_a_new_kpi_is_one_yaml_file(tmp_path: Path, built_warehouse: BuiltWarehouse) -> None:
    original = copy_projects(tmp_path)
    (tmp_path / NEW_KPI_FILE).write_text(NEW_KPI_YAML, encoding="utf-8")
    # The governance checks accept it as it is.
    assert check_definitions(tmp_path / "kpi_definitions") == []

    data_dir = tmp_path / "data"
    warehouse = built_warehouse.copy_warehouse(data_dir)
    project_dir = tmp_path / "dbt_project"
    # What the run's dbt preparation (defs/transform.py, prepare_dbt) does before dbt parses.
    generated = {project_dir / KPI_VALUES_MODEL, project_dir / KPI_DICTIONARY_MODEL}
    assert set(refresh_models(tmp_path / "kpi_definitions", project_dir)) == generated
    assert "units_per_order" in (project_dir / KPI_VALUES_MODEL).read_text("utf-8")
    run_dbt(
        "build",
        "--select",
        "kpi_values",
        "kpi_dictionary",
        data_dir=data_dir,
        project_dir=project_dir,
    )

    sample = built_warehouse.sample
    months = 12 * (int(sample.last_month[:4]) - int(sample.first_month[:4])) + (
        int(sample.last_month[5:]) - int(sample.first_month[5:]) + 1
    )
    first_year, last_year = int(sample.first_month[:4]), int(sample.last_month[:4])
    assert (sample.first_month, sample.last_month) == ("2024-01", "2025-12")  # whole quarters and years
    periods = months + months // 3 + (last_year - first_year + 1)  # 24 + 8 + 2 = 34

    with duckdb.connect(str(warehouse), read_only=True) as con:
        units = con.execute(
            "select count(*) from raw.org_units where _superseded_by_batch_id is null"
        ).fetchone()[0]
        # Every org unit × every period, exactly once.
        count, distinct = con.execute(
            """select count(*), count(distinct (period_grain, period_start, org_unit_id))
               from kpi.kpi_values where kpi_id = 'units_per_order'"""
        ).fetchone()
        assert count == distinct == units * periods
        # The value: units sold / orders, from the raw tables, for the company in 2025-10.
        value, numerator, denominator, status = con.execute(
            """select value, numerator, denominator, value_status from kpi.kpi_values
               where kpi_id = 'units_per_order' and org_unit_id = 'HQ'
                   and period_grain = 'month' and period_start = date '2025-10-01'"""
        ).fetchone()
        expected = raw_units_per_order(con, "HQ", dt.date(2025, 10, 1), dt.date(2025, 11, 1))
        assert math.isclose(value, expected, rel_tol=1e-9)
        assert math.isclose(value, numerator / denominator, rel_tol=1e-12) and status == "ok"
        # And for a store and a year, too.
        store = con.execute(
            """select value from kpi.kpi_values where kpi_id = 'units_per_order' and org_unit_id = 'ST-001'
                   and period_grain = 'year' and period_start = date '2025-01-01'"""
        ).fetchone()[0]
        assert math.isclose(
            store, raw_units_per_order(con, "ST-001", dt.date(2025, 1, 1), dt.date(2026, 1, 1)), rel_tol=1e-9
        )
        # It is in the dictionary, with its governance fields.
        dictionary = con.execute(
            """select metric_name, metric_type, label, label_zh, owner, perspective, kind, unit, polarity,
                      decimals, status_rule, green_at, amber_at, weight, definition_version, measures,
                      definition_file
               from kpi.kpi_dictionary where kpi_id = 'units_per_order'"""
        ).fetchall()
        assert dictionary == [
            (
                "units_per_order",
                "ratio",
                "Units per order",
                "单均件数",
                "Sales operations",
                "financial",
                "process",
                "ratio",
                "higher_is_better",
                2,
                "ratio",
                1.0,
                0.95,
                0.10,
                1,
                "orders, sold_quantity",
                NEW_KPI_FILE,
            )
        ]
        kpi_ids = {r[0] for r in con.execute("select kpi_id from kpi.kpi_dictionary").fetchall()}
        new_rows = set(con.execute("select * from kpi.kpi_values").fetchall())

    # The other KPIs are untouched: the same rows as before the new KPI.
    assert "units_per_order" in kpi_ids and len(kpi_ids) == 19 + 1  # the catalogue's 19 KPIs and the new one
    old_rows = set(built_warehouse.query("select * from kpi.kpi_values"))
    assert {r for r in new_rows if r[0] != "units_per_order"} == old_rows

    # No SQL or Python (nor any other file) needed a change: after the run, the copy differs from the
    # original by the new YAML file and the two models generated from the definitions only.
    copy = project_files(tmp_path)
    assert set(copy) - set(original) == {NEW_KPI_FILE}
    assert set(original) - set(copy) == set()
    changed = sorted(path for path in original if copy[path] != original[path])
    assert changed == sorted(f"dbt_project/{model}" for model in (KPI_DICTIONARY_MODEL, KPI_VALUES_MODEL))
    assert any(p.endswith(".sql") for p in original), "the comparison covers the SQL files"
