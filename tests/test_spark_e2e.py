"""The pipeline on Spark (KPI_ENGINE=spark, a local session) publishes what the DuckDB run publishes.

Slow (two JVMs start, dbt builds every model on Spark): marked `spark`, run it with
`pytest -m spark`. Skipped only when there is no Java. The engine setting's unit test is fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pytest

from dagster_project.engines.spark import java_available
from dagster_project.sample_data.generator import generate_sample_data
from dagster_project.settings import Settings, engine_from_env
from tests.helpers import run_pipeline_on

# The published tables and their key; every other column is compared (publication metadata aside).
PUBLISHED_TABLES = {
    "scorecard": ("period_grain", "period_start", "org_unit_id", "kpi_id"),
    "scorecard_scores": ("period_grain", "period_start", "org_unit_id", "perspective"),
    "kpi_dictionary": ("kpi_id",),
}
PUBLICATION_COLUMNS = {"publication_version", "published_at"}
RELATIVE_TOLERANCE = 1e-9


def _published_rows(data_dir: Path, table: str) -> tuple[list[str], dict[tuple, tuple]]:
    with duckdb.connect(str(data_dir / "published.duckdb"), read_only=True) as con:
        columns = [row[0] for row in con.execute(f"describe {table}").fetchall()]
        compared = [c for c in columns if c not in PUBLICATION_COLUMNS]
        key = PUBLISHED_TABLES[table]
        rows = con.execute(f"select {', '.join(compared)} from {table}").fetchall()
    key_positions = [compared.index(k) for k in key]
    return compared, {tuple(row[i] for i in key_positions): row for row in rows}


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)
    return a == b


@pytest.mark.spark
@pytest.mark.e2e
@pytest.mark.skipif(
    not java_available(Settings.from_env().java_home),
    reason="KPI_ENGINE=spark needs Java 17+ (java on PATH or JAVA_HOME)",
)
def test_spark_run_publishes_the_duckdb_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    generate_sample_data(landing, sales_lines=2_000, months=15, end_month="2025-12", bad_rows=False)
    monkeypatch.setenv("KPI_SPARK_SHUFFLE_PARTITIONS", "2")

    monkeypatch.setenv("KPI_ENGINE", "duckdb")
    _, duckdb_run = run_pipeline_on(landing, tmp_path / "duckdb")
    assert duckdb_run.success, duckdb_run.errors

    monkeypatch.setenv("KPI_ENGINE", "spark")
    settings, spark_run = run_pipeline_on(landing, tmp_path / "spark")
    assert spark_run.success, spark_run.errors
    assert settings.engine == "spark"
    assert any(settings.spark_warehouse_dir.glob("scorecard.db/scorecard/*.parquet")), (
        "Spark built no scorecard"
    )
    assert {p.outcome for p in spark_run.publications} == {p.outcome for p in duckdb_run.publications}
    assert [(p.period_label, p.outcome) for p in spark_run.publications] == [
        (p.period_label, p.outcome) for p in duckdb_run.publications
    ]
    assert sorted(spark_run.checks_failed) == sorted(duckdb_run.checks_failed)

    for table in PUBLISHED_TABLES:
        columns, expected = _published_rows(tmp_path / "duckdb", table)
        spark_columns, actual = _published_rows(tmp_path / "spark", table)
        assert spark_columns == columns, table
        assert expected, f"the DuckDB run published no {table} rows"
        assert actual.keys() == expected.keys(), f"{table}: different rows"
        differences = [
            (key, column, expected[key][i], actual[key][i])
            for key in expected
            for i, column in enumerate(columns)
            if not _same(expected[key][i], actual[key][i])
        ]
        assert not differences, f"{table}: {len(differences)} values differ, e.g. {differences[:5]}"


def test_engine_setting_rejects_an_unknown_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_ENGINE", "trino")
    with pytest.raises(ValueError, match="KPI_ENGINE is 'trino': it must be one of duckdb, spark"):
        engine_from_env()
    monkeypatch.setenv("KPI_ENGINE", " Spark ")
    assert Settings.from_env().engine == "spark"
    monkeypatch.delenv("KPI_ENGINE")
    assert Settings.from_env().engine == "duckdb"
