"""The Spark engine (KPI_ENGINE=spark): Parquet-backed Spark tables under KPI_DATA_DIR/spark-warehouse.

Layout: every table is a Parquet folder `<spark-warehouse>/<schema>.db/<table>/`, the layout of Spark's
managed tables. The catalog lives in memory, one per process (dbt's session, the gate's session):
each registers the folders it reads, so no metastore service or file lock is shared.

- Sources: the contract's entities are validated by the extractor (its batch log, quarantine rules
  and idempotency in warehouse.duckdb, unchanged) and landed here as `raw.<entity>` and
  `quarantine.<entity>` Parquet folders, replaced atomically, before dbt builds.
- dbt builds every model with dbt-spark (profiles.yml target `spark`, the same settings as
  `spark_conf` below) into the same warehouse folder.
- The gate validates the Spark tables through Great Expectations' Spark execution (gate_spark.py).
- Publication: warehouse.duckdb gets the staged scorecard, scores and dictionary as tables (and views
  over the other Parquet tables dbt built), so the DuckDB publish step writes the same
  published.duckdb and BI Parquet files.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from dagster_project.contract import load_contract
from dagster_project.settings import Settings, duckdb_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The staged tables the publish step reads (dagster_project/publish/contract.py: STAGED_*), schema → tables.
STAGED_TABLES = {"scorecard": ("scorecard", "scorecard_scores"), "kpi": ("kpi_dictionary",)}
SOURCE_SCHEMAS = ("raw", "quarantine")


def spark_conf(settings: Settings) -> dict[str, str]:
    """The session settings; dbt_project/profiles.yml (target spark) sets the same ones for dbt."""
    return {
        "spark.master": settings.spark_master,
        "spark.driver.memory": settings.spark_driver_memory,
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(settings.spark_warehouse_dir),
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "false",  # as dbt-spark sets it, so both sessions compute alike
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
    }


def java_available(java_home: Path | None) -> bool:
    """Whether Spark finds Java: in `java_home` (settings.java_home, JAVA_HOME) or on PATH."""
    return bool(java_home and (java_home / "bin" / "java").exists()) or shutil.which("java") is not None


def require_java(settings: Settings) -> None:
    """Spark runs on a JVM: say what to install when there is none."""
    if not java_available(settings.java_home):
        raise RuntimeError(
            "KPI_ENGINE=spark needs Java 17 or later: install a JDK/JRE (e.g. `apt-get install "
            "openjdk-17-jre-headless`) or set JAVA_HOME, or run with KPI_ENGINE=duckdb."
        )


@cache
def _session(conf: tuple[tuple[str, str], ...]) -> SparkSession:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName("kpi-pipeline")
    for key, value in conf:
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_session(settings: Settings) -> SparkSession:
    """One SparkSession per process (a JVM takes seconds to start), with every table registered."""
    require_java(settings)
    spark = _session(tuple(sorted(spark_conf(settings).items())))
    register_tables(spark, settings.spark_warehouse_dir)
    return spark


def register_tables(spark: SparkSession, warehouse_dir: Path) -> list[str]:
    """Register every Parquet table folder of the warehouse in the session's catalog (refreshed, so
    a folder replaced since is read anew). Returns the `schema.table` names."""
    names = []
    for schema_dir in sorted(warehouse_dir.glob("*.db")):
        schema = schema_dir.name.removesuffix(".db")
        spark.sql(f"create schema if not exists {schema}")
        for table_dir in sorted(p for p in schema_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not any(table_dir.glob("*.parquet")):
                continue
            name = f"{schema}.{table_dir.name}"
            spark.sql(f"create table if not exists {name} using parquet location '{table_dir.as_posix()}'")
            spark.catalog.refreshTable(name)
            names.append(name)
    return names


def table_dir(settings: Settings, schema: str, table: str) -> Path:
    return settings.spark_warehouse_dir / f"{schema}.db" / table


def land_sources_as_parquet(settings: Settings) -> None:
    """Write raw.<entity> and quarantine.<entity> of every contract entity from warehouse.duckdb to
    their Parquet folders. Each folder is replaced whole (written beside, then renamed), so a reader
    sees the old or the new table, never half of one."""
    with duckdb.connect(str(settings.warehouse_path), config=duckdb_config(settings)) as con:
        for entity in load_contract().entities:
            for schema in SOURCE_SCHEMAS:
                _replace_folder(con, f"select * from {schema}.{entity}", table_dir(settings, schema, entity))


def _replace_folder(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    incoming = target.with_name(f".{target.name}.incoming")
    previous = target.with_name(f".{target.name}.previous")
    for leftover in (incoming, previous):
        shutil.rmtree(leftover, ignore_errors=True)
    incoming.mkdir()
    con.execute(f"copy ({query}) to '{(incoming / 'part-00000.parquet').as_posix()}' (format parquet)")
    if target.exists():
        target.rename(previous)
    incoming.rename(target)
    shutil.rmtree(previous, ignore_errors=True)


def expose_staged_tables_to_duckdb(settings: Settings, require_staged: bool = True) -> None:
    """Every table dbt built in Spark, in warehouse.duckdb under the same name: the staged ones the
    publish step reads (scorecard.scorecard, scorecard.scorecard_scores, kpi.kpi_dictionary) as
    tables, the others (kpi_values, marts, …) as views over their Parquet folders, so tools that
    query the warehouse find them where they are on DuckDB."""
    built = {
        (schema_dir.name.removesuffix(".db"), folder.name): folder
        for schema_dir in sorted(settings.spark_warehouse_dir.glob("*.db"))
        if schema_dir.name.removesuffix(".db") not in SOURCE_SCHEMAS
        for folder in sorted(schema_dir.iterdir())
        if folder.is_dir() and any(folder.glob("*.parquet"))
    }
    missing = [f"{s}.{t}" for s, tables in STAGED_TABLES.items() for t in tables if (s, t) not in built]
    if missing and require_staged:
        raise FileNotFoundError(
            f"{settings.spark_warehouse_dir} holds no Parquet files for {', '.join(missing)}: the Spark dbt "
            "build did not write them; see the dbt step's log."
        )
    with duckdb.connect(str(settings.warehouse_path), config=duckdb_config(settings)) as con:
        for (schema, table), folder in built.items():
            con.execute(f"create schema if not exists {schema}")
            existing = con.execute(
                "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
                [schema, table],
            ).fetchone()
            # The staged tables are copied (aggregates, small): the publish step requires tables.
            kind = "table" if table in STAGED_TABLES.get(schema, ()) else "view"
            if existing and existing[0] != ("VIEW" if kind == "view" else "BASE TABLE"):
                con.execute(f"drop {'view' if existing[0] == 'VIEW' else 'table'} {schema}.{table}")
            con.execute(
                f"create or replace {kind} {schema}.{table} as "
                f"select * from read_parquet('{(folder / '*.parquet').as_posix()}')"
            )
