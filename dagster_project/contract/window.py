"""The plausibility window of the source data contract: the dates a row may carry.

A date outside it is a typing error or a placeholder (1900-01-01, 9999-12-31), not a fact: the
extractor quarantines the row, and dbt's calendar never reaches beyond the window, so one absurd
date cannot stretch the calendar over millennia (docs/data_contract.md, "Plausible dates").
The bounds come from the settings (KPI_FIRST_MONTH, KPI_DATE_HISTORY_MONTHS, KPI_DATE_FUTURE_DAYS).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from dagster_project.periods import add_months, parse_month

# How dbt receives the window (dbt_project/macros/date_window.sql): the first plausible date, and
# the days after dbt's own current date, so that a long-running `kpi dev` never holds a stale "today".
DBT_DATE_FROM_VARIABLE = "KPI_DATE_FROM"
DBT_DATE_FUTURE_DAYS_VARIABLE = "KPI_DATE_FUTURE_DAYS"


@dataclass(frozen=True)
class DateWindow:
    """Dates from `earliest` to `future_days` days after today (UTC), both included."""

    earliest: date
    future_days: int

    @classmethod
    def from_first_month(cls, first_month: str, history_months: int, future_days: int) -> DateWindow:
        """`first_month` (YYYY-MM) minus `history_months` months, to today + `future_days`."""
        return cls(earliest=add_months(parse_month(first_month), -history_months), future_days=future_days)

    def latest(self, today: date | None = None) -> date:
        return (today or datetime.now(UTC).date()) + timedelta(days=self.future_days)

    def contains(self, day: date, today: date | None = None) -> bool:
        return self.earliest <= day <= self.latest(today)

    def describe(self, today: date | None = None) -> str:
        return f"{self.earliest.isoformat()} … {self.latest(today).isoformat()}"

    def environment(self) -> dict[str, str]:
        """The variables that pass the window to dbt."""
        return {
            DBT_DATE_FROM_VARIABLE: self.earliest.isoformat(),
            DBT_DATE_FUTURE_DAYS_VARIABLE: str(self.future_days),
        }
