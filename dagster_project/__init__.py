"""KPI pipeline: extract → dbt KPIs → quality gate → published scorecards.

Importing the package changes nothing in the environment: the `kpi` command switches the tools'
telemetry off (settings.prepare_command_environment), and Settings.environment() is what its
children get.
"""

__version__ = "0.1.0"
