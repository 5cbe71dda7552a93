"""The quality gate on Spark: the same suites of expectations/ through Great Expectations' Spark
execution engine. Each check's query runs as a Spark DataFrame over the warehouse's Parquet tables;
GX computes its metrics in Spark (nothing is collected to the driver but the metrics and the
unexpected rows' index columns), and the outcome is read exactly as on DuckDB (gate/runner.py).
"""

from __future__ import annotations

from dagster_project.engines.spark import spark_session
from dagster_project.gate.runner import (
    CheckOutcome,
    CheckSpec,
    Gate,
    could_not_run,
    ephemeral_gx_context,
    validate_batch,
)
from dagster_project.settings import Settings


def run_check_spark(spec: CheckSpec, settings: Settings, gate: Gate) -> CheckOutcome:
    """Validate the check's rows with its suite, in Spark."""
    try:
        spark = spark_session(settings)  # reused across checks: one JVM per process
        rows = spark.sql(spec.query)
        context = ephemeral_gx_context()
        datasource = context.data_sources.add_spark(name="warehouse")
        asset = datasource.add_dataframe_asset(name=spec.name)
        batch = asset.add_batch_definition_whole_dataframe("all rows").get_batch(
            batch_parameters={"dataframe": rows}
        )
        outcomes = validate_batch(spec, batch, gate)
    except Exception as error:  # fails closed, as on DuckDB: a check that cannot run blocks everything
        outcomes = could_not_run(spec, error)
    return CheckOutcome(spec=spec, expectations=outcomes)
