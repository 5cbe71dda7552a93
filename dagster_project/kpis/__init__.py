"""The KPI catalogue: loading and validating kpi_definitions/, the metric graph, the compiler's inputs."""
