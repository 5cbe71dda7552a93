"""Helpers for tests: small landing files and warehouses written by hand, dbt and the pipeline run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pytest

from dagster_project.run.pipeline import run_pipeline
from dagster_project.run.summary import RunSummary
from dagster_project.settings import DBT_PROJECT_DIR, Settings

ORG_UNITS = [
    {"org_unit_id": "HQ", "name": "Company", "name_zh": "公司", "parent_id": "", "unit_type": "company"},
    {"org_unit_id": "R1", "name": "East", "name_zh": "华东", "parent_id": "HQ", "unit_type": "region"},
    {"org_unit_id": "S1", "name": "Store 1", "name_zh": "一店", "parent_id": "R1", "unit_type": "store"},
    {"org_unit_id": "S2", "name": "Store 2", "name_zh": "", "parent_id": "R1", "unit_type": "store"},
]
PRODUCTS = [
    {"sku": "A", "name": "Apple", "category": "fruit"},
    {"sku": "B", "name": "Banana", "category": "fruit"},
]


def sales_line(**overrides: str) -> dict[str, str]:
    row = {
        "order_id": "O1",
        "line_no": "1",
        "order_date": "2025-01-10",
        "customer_id": "C1",
        "org_unit_id": "S1",
        "sku": "A",
        "quantity": "2",
        "unit_price": "10.50",
        "discount_amount": "1",
        "unit_cost": "6",
        "channel": "store",
    }
    return row | overrides


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = header or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def warehouse_from_sql(path: Path, sql: str) -> Path:
    """A DuckDB warehouse file holding what `sql` creates (staged tables written by hand)."""
    with duckdb.connect(str(path)) as con:
        con.execute(sql)
    return path


def run_dbt(
    *args: str, data_dir: Path, project_dir: Path = DBT_PROJECT_DIR, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The virtual environment's dbt on a project (with its own profiles.yml) against the warehouse in
    `data_dir`; the test fails with the end of dbt's output when dbt does."""
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args,
         "--project-dir", str(project_dir), "--profiles-dir", str(project_dir)],
        cwd=project_dir,
        env=os.environ | {"KPI_DATA_DIR": str(data_dir), "DBT_SEND_ANONYMOUS_USAGE_STATS": "False", **(env or {})},
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-4000:]
    return completed


# Set by conftest.py for each test: whether it is marked e2e (or spark). A whole pipeline run belongs
# to the end-to-end lane, so `make test-fast` (-m "not e2e") never runs one by accident.
PIPELINE_RUNS_ALLOWED = True


def require_e2e(what: str) -> None:
    """Fail a test that runs `what` (a whole pipeline or job) without the e2e marker."""
    if not PIPELINE_RUNS_ALLOWED:
        pytest.fail(
            f"{what} in a test not marked e2e: add `pytest.mark.e2e` (or use a PIPELINE_FIXTURES fixture)"
        )


def run_pipeline_on(landing: Path, data: Path) -> tuple[Settings, RunSummary]:
    """Run the whole pipeline on a landing folder into a data folder, as `kpi run` does."""
    require_e2e("run_pipeline_on")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KPI_LANDING_DIR", str(landing))
        patch.setenv("KPI_DATA_DIR", str(data))
        patch.delenv("DAGSTER_HOME", raising=False)
        settings = Settings.from_env()
        return settings, run_pipeline(settings)


def set_unit_cost_share(landing: Path, month: str, org_unit_id: str, share: float) -> int:
    """Plant a gross-margin anomaly: in the sales file of `month` (YYYY-MM, CSV or Parquet), set the
    unit cost of `org_unit_id`'s lines to `share` × the unit price. Returns the lines changed."""
    import duckdb

    (path,) = (landing / "sales_lines").glob(f"sales_lines_{month}.*")
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    options = "(format parquet)" if path.suffix == ".parquet" else "(header, format csv)"
    with duckdb.connect() as con:
        changed = con.execute(
            f"select count(*) from {reader}(?) where org_unit_id = ?", [str(path), org_unit_id]
        )
        count = changed.fetchone()[0]
        con.execute(
            f"create table planted as select * replace (case when org_unit_id = ? "
            f"then cast(round(unit_price * ?, 2) as decimal(18, 2)) else unit_cost end as unit_cost) "
            f"from {reader}(?)",
            [org_unit_id, share, str(path)],
        )
        con.execute(f"copy planted to '{path}' {options}")
    return count
