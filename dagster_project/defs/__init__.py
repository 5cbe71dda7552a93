"""Dagster definitions of the KPI pipeline, one module per stage; assembled in `dagster_project.definitions`."""
