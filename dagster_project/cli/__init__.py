"""The `kpi` command: a module per command group over the same functions Dagster runs."""
