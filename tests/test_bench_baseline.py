"""The benchmark's baseline (bench/baseline.sql) computes the same KPI values as the pipeline, so
that the comparison in bench/results.md is honest; and the harness's own pieces do what they say."""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.kpis.catalog import load_catalog
from tests.helpers import run_pipeline_on

REPO_ROOT = Path(__file__).resolve().parents[1]


def _load_bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_run", REPO_ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.mark.e2e
def test_baseline_agrees_with_the_pipeline_at_size_s(tmp_path: Path) -> None:
    landing = bench.prepare_landing("S", tmp_path)
    settings, summary = run_pipeline_on(landing.landing_dir, tmp_path / "data")
    assert summary.success, summary.errors
    baseline_file = tmp_path / "baseline.parquet"
    bench.run_baseline_script(landing.landing_dir, baseline_file, tmp_path / "baseline_tmp")

    agreement = bench.compare_kpi_values(settings.warehouse_path, baseline_file)

    # every KPI of the catalogue × 24 org units × (24 months + 8 quarters + 2 years)
    assert agreement.pipeline_rows == agreement.baseline_rows == len(load_catalog().kpis) * 24 * 34
    assert (agreement.only_in_pipeline, agreement.only_in_baseline) == (0, 0)
    assert agreement.mismatches == dict.fromkeys(agreement.mismatches, 0), agreement.examples
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        with_values = con.execute("select count(*) from kpi.kpi_values where value is not null").fetchone()[0]
    assert with_values > 0.8 * agreement.pipeline_rows  # the comparison is not of empty values


def _kpi_table(con: duckdb.DuckDBPyConnection, name: str, values: list[tuple]) -> None:
    con.execute(
        f"""create table {name} (kpi_id varchar, period_grain varchar, period_start date, org_unit_id varchar,
            value double, numerator double, denominator double, sample_size bigint, value_status varchar)"""
    )
    con.executemany(f"insert into {name} values (?, ?, ?, ?, ?, ?, ?, ?, ?)", values)


def test_comparison_finds_a_changed_value_a_null_and_a_missing_key(tmp_path: Path) -> None:
    rows = [
        ("nps", "month", "2025-01-01", "HQ", 12.5, 25.0, 200.0, 200, "ok"),
        ("nps", "month", "2025-02-01", "HQ", None, 0.0, 0.0, 0, "no_data"),
        ("net_revenue", "year", "2025-01-01", "HQ", 1e9, 1e9, None, None, "ok"),
    ]
    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema kpi")
        _kpi_table(con, "kpi.kpi_values", rows)
    same, changed = tmp_path / "same.parquet", tmp_path / "changed.parquet"
    with duckdb.connect() as con:
        _kpi_table(con, "same", [(*r[:4], r[4] * (1 + 1e-12) if r[4] else r[4], *r[5:]) for r in rows])
        con.execute(f"copy same to '{same}' (format parquet)")
        altered = [
            (*rows[0][:4], 12.6, *rows[0][5:]),  # a different value
            (*rows[1][:4], 0.0, *rows[1][5:]),  # a value where the pipeline has none
        ]  # and the third key is missing
        _kpi_table(con, "changed", altered)
        con.execute(f"copy changed to '{changed}' (format parquet)")

    assert bench.compare_kpi_values(warehouse, same).agrees
    result = bench.compare_kpi_values(warehouse, changed)
    assert not result.agrees
    assert result.mismatches["value"] == 2
    assert (result.only_in_pipeline, result.only_in_baseline) == (1, 0)


def test_steps_map_to_the_four_stages() -> None:
    assert bench._stage_of("raw__sales_lines") == "extract"
    assert bench._stage_of("kpi_dbt_models") == "dbt"
    assert bench._stage_of("gate__gate_kpi_bounds_kpi_bounds") == "checks"
    assert bench._stage_of("kpi__kpi_values_low_samples") == "checks"
    assert bench._stage_of("published__scorecard") == "publish"


def test_measure_counts_cpu_and_memory_of_child_processes(tmp_path: Path) -> None:
    # The child allocates ~200 MB in a grandchild and burns CPU there: both must be seen.
    grandchild = "import time; b = b'x' * (200 * 1024 * 1024); sum(range(20_000_000)); time.sleep(0.3)"
    code = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {grandchild!r}], check=True)"
    measurement = bench.measure(
        [sys.executable, "-c", code], env={}, cwd=tmp_path, log_file=tmp_path / "log.txt"
    )
    assert measurement.exit_code == 0
    assert measurement.cpu_s >= 0.2
    assert measurement.peak_rss_bytes >= 200 * 1024 * 1024
    assert measurement.peak_processes >= 2


def test_run_history_sqlite_files_skip_fsync_others_keep_it(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from dagster_project.run.run_log_storage import relax_run_history_fsync

    home, elsewhere = tmp_path / "dagster_home", tmp_path / "other"
    home.mkdir(), elsewhere.mkdir()
    relax_run_history_fsync(home)

    def synchronous(path: Path) -> int:
        engine = create_engine(f"sqlite:///{path}")
        with engine.connect() as connection:
            value = connection.execute(text("pragma synchronous")).scalar()
        engine.dispose()
        return value

    assert synchronous(home / "runs.db") == 0  # OFF
    assert (
        synchronous(elsewhere / "app.db")
        == sqlite3.connect(":memory:").execute("pragma synchronous").fetchone()[0]
    )
