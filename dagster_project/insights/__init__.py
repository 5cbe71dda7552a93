"""What the published values say: early warnings (kpi_alerts)."""
