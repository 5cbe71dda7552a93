"""Lineage and audit trail: what produced each published KPI value (docs/audit.md)."""
