"""How a KPI's attainment turns into a status, and the rule's defaults: declared once, here.

The KPI dictionary carries every KPI's resolved rule (`compiler.py` writes it into
`kpi_dictionary.sql`), and the scorecard model reads the thresholds from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

STATUS_RULE_TYPES = ("ratio", "difference")
# A ratio rule without thresholds: green at the target, amber from 90 % of it.
DEFAULT_GREEN_AT = 1.0
DEFAULT_AMBER_AT = 0.90
STATUS_RULE_KEYS = {"ratio": {"type", "green_at", "amber_at"}, "difference": {"type", "amber_band"}}


@dataclass(frozen=True)
class StatusRule:
    """`ratio` (actual/target against green_at and amber_at) or `difference` (against amber_band)."""

    type: str
    green_at: float | None = None
    amber_at: float | None = None
    amber_band: float | None = None

    @classmethod
    def from_definition(cls, rule: Mapping[str, Any]) -> StatusRule:
        """The rule of a valid `status_rule` mapping, defaults filled in."""
        if rule["type"] == "ratio":
            green, amber = ratio_thresholds(rule)
            return cls("ratio", float(green), float(amber))
        return cls("difference", amber_band=float(rule["amber_band"]))


def ratio_thresholds(rule: Mapping[str, Any]) -> tuple[Any, Any]:
    """(green_at, amber_at) of a ratio rule as written, defaults filled in (not yet checked)."""
    return rule.get("green_at", DEFAULT_GREEN_AT), rule.get("amber_at", DEFAULT_AMBER_AT)
