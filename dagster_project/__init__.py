"""KPI pipeline: extract → dbt KPIs → quality gate → published scorecards."""

from dagster_project import settings as _settings

# Offline by default: switch off every tool's telemetry before any of them is imported.
_settings.disable_telemetry()

__version__ = "0.1.0"
